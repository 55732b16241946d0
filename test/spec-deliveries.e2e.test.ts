/*
 * Every webhook type of Voucherify's OpenAPI description, as Voucherify sends
 * it (the spec's examples and their realistic variants, from
 * @vouchflow/schema/testing), through the whole stack: signed delivery →
 * ingress → Redis → worker, as real processes. None may become a dead
 * letter; a `*` plugin receives every one, typed; a `customer.*` plugin
 * receives a `customer.` type that has no codec. And the twin rule: a
 * distribution's pending-points event and its project-webhook twin produce
 * one e-mail, through the real e-mail handler and a real SMTP server.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeadLetterStore } from '@vouchflow/pipeline';
import { EVENT_IDENTITY, EVENT_TYPES, signBody, SIGNATURE_HEADER, type EventType } from '@vouchflow/schema';
import { realisticDeliveries, specDeliveries } from '@vouchflow/schema/testing';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess, type LogLine } from '@vouchflow/test-support';
import { eventually } from './support/pipeline.js';

const SECRET = 'spec-e2e-secret-0123456789';
const RECORDER = resolve(import.meta.dirname, 'fixtures/wildcard-recorder.ts');

type Delivery = Record<string, unknown> & { event: { id: string; type: string } };

/** Starts the ingress and a worker on their own queue prefix; resolves once both listen. */
async function startStack(
  extraEnv: Record<string, string>,
): Promise<{ base: string; ingress: AppProcess; worker: AppProcess; prefix: string }> {
  const port = await freePort();
  const prefix = uniquePrefix('spec');
  const env = { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, VOUCHERIFY_WEBHOOK_SECRET: SECRET, PORT: String(port), ...extraEnv };
  const ingress = startApp('ingress', env);
  const worker = startApp('worker', env);
  await Promise.all([
    ingress.waitForLog((l) => l.message === 'ingress listening', 30_000),
    worker.waitForLog((l) => l.message === 'worker started', 30_000),
  ]);
  return { base: `http://127.0.0.1:${port}`, ingress, worker, prefix };
}

async function post(base: string, delivery: unknown): Promise<number> {
  const body = JSON.stringify(delivery);
  const res = await fetch(`${base}/webhooks/voucherify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, SECRET) },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

/** Posts every delivery, a few at a time; resolves with each answer's status. */
async function postAll(base: string, deliveries: readonly unknown[], parallel = 16): Promise<number[]> {
  const statuses: number[] = new Array(deliveries.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < deliveries.length) {
        const i = next++;
        statuses[i] = await post(base, deliveries[i]);
      }
    }),
  );
  return statuses;
}

/** The delivery as a business fact of its own: its transaction's id and its subject's id made unique. */
function distinctFact(delivery: Delivery, n: number): Delivery {
  const data = delivery['data'] as Record<string, { id?: unknown } | null | undefined>;
  const suffix = (key: string) => {
    const node = data[key];
    if (node && typeof node.id === 'string') data[key] = { ...node, id: `${node.id}-${n}` };
  };
  suffix('transaction');
  const rule = EVENT_IDENTITY[delivery.event.type as EventType].key;
  if (rule !== 'event') suffix(rule.subject);
  return delivery;
}

const received = (worker: AppProcess, handler: string): LogLine[] =>
  worker.lines.filter((l) => l.message === 'received' && l['handler'] === handler);

describe('every webhook type of the spec, through ingress and worker', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  // Variants of one example report the same business fact, which a handler runs for once: each is made a
  // happening of its own (its transaction and subject ids suffixed), so the plugin must receive every one.
  const deliveries = realisticDeliveries().map((d, n) => distinctFact(d.delivery as Delivery, n));
  // Documented by Voucherify without a schema: no codec, so only patterns get it.
  const referred = structuredClone(specDeliveries().find((d) => d.name === 'customer.rewarded')!.delivery) as Delivery;
  referred.event = { ...referred.event, id: `${referred.event.id}-referred`, type: 'customer.referred' };
  const campaignAdded = structuredClone(specDeliveries().find((d) => d.name === 'campaign.created')!.delivery) as Delivery;
  campaignAdded.event = { ...campaignAdded.event, id: `${campaignAdded.event.id}-added`, type: 'campaign.vouchers.added' };

  beforeAll(async () => {
    stack = await startStack({ HANDLERS: RECORDER });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stack?.ingress.stop(), stack?.worker.stop()]);
    if (stack) await deletePrefix(testRedisUrl(), stack.prefix);
  });

  it('accepts every realistic delivery of the 72 types, dead-letters none, and the * plugin receives each, typed', async () => {
    expect(new Set(deliveries.map((d) => d.event.type))).toEqual(new Set(EVENT_TYPES));
    const statuses = await postAll(stack.base, deliveries);
    expect(statuses.filter((s) => s !== 202)).toEqual([]);

    await eventually(
      'the * plugin to receive every delivery',
      () => (received(stack.worker, 'everything').length >= deliveries.length ? true : undefined),
      180_000,
      200,
    );
    const byEvent = new Map(received(stack.worker, 'everything').map((l) => [l['eventId'], l]));
    for (const d of deliveries) {
      const line = byEvent.get(d.event.id);
      expect(line, d.event.id).toBeDefined();
      expect(line).toMatchObject({ type: d.event.type, known: true });
    }
    expect(received(stack.worker, 'everything')).toHaveLength(deliveries.length);
    // The customer.* plugin got exactly the customer. types.
    const customerTypes = deliveries.filter((d) => d.event.type.startsWith('customer.'));
    expect(new Set(received(stack.worker, 'customers').map((l) => l['eventId']))).toEqual(new Set(customerTypes.map((d) => d.event.id)));

    const deadLines = stack.worker.lines.filter((l) => /dead-lettered/.test(String(l.message)));
    expect(deadLines).toEqual([]);
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const store = createDeadLetterStore({ connection: redis, queuePrefix: stack.prefix });
    try {
      expect(await store.list()).toEqual([]);
    } finally {
      await store.close();
      redis.disconnect();
    }
    console.log(
      `[spec-figures] ${deliveries.length} deliveries of ${EVENT_TYPES.length} types: 0 dead letters, ${byEvent.size} received by the * plugin`,
    );
  }, 240_000);

  it('hands an unknown customer. type to the customer.* plugin, and an unknown campaign. type only to *', async () => {
    expect(await postAll(stack.base, [referred, campaignAdded])).toEqual([202, 202]);
    const line = await stack.worker.waitForLog(
      (l) => l.message === 'received' && l['handler'] === 'customers' && l['eventId'] === referred.event.id,
      30_000,
    );
    expect(line).toMatchObject({ type: 'customer.referred', known: false, eventType: 'customer.referred' });
    await stack.worker.waitForLog(
      (l) => l.message === 'received' && l['handler'] === 'everything' && l['eventId'] === campaignAdded.event.id,
      30_000,
    );
    await stack.worker.waitForLog(
      (l) => l.message === 'received' && l['handler'] === 'everything' && l['eventId'] === referred.event.id,
      30_000,
    );
    expect(received(stack.worker, 'customers').some((l) => l['eventId'] === campaignAdded.event.id)).toBe(false);
  }, 60_000);
});

describe('the twin rule, through the real e-mail handler and a real SMTP server', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let smtp: SMTPServer;
  const mails: Array<{ to: string[]; raw: string }> = [];

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
          callback();
        });
      },
    });
    smtp.listen(0, '127.0.0.1');
    await once(smtp.server, 'listening');
    const { port } = smtp.server.address() as AddressInfo;
    stack = await startStack({ HANDLERS: 'email', SMTP_URL: `smtp://127.0.0.1:${port}`, EMAIL_FROM: 'Loyalty <loyalty@example.com>' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stack?.ingress.stop(), stack?.worker.stop()]);
    if (stack) await deletePrefix(testRedisUrl(), stack.prefix);
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  });

  it('customer.voucher.loyalty_card.pending_points.added and its voucher. twin produce one e-mail', async () => {
    const distribution = structuredClone(
      specDeliveries().find((d) => d.name === 'customer.voucher.loyalty_card.pending_points.added')!.delivery,
    ) as Delivery & { data: Record<string, Record<string, unknown>> };
    distribution.data['customer'] = { ...distribution.data['customer'], email: 'alex.doe@example.com' };
    // The project webhook's twin: the same happening (the same pending points), its own event and envelope.
    const twin = structuredClone(distribution);
    twin.event = { ...twin.event, id: `${twin.event.id}-twin`, type: 'voucher.loyalty_card.pending_points.added' };
    (twin as Record<string, unknown>)['type'] = 'voucher.loyalty_card.pending_points.added';
    (twin as Record<string, unknown>)['source'] = {
      id: 'wh_0d2f1c9a8b7e6d5c4b',
      object: 'webhook',
      target_url: 'https://hooks.example.com/webhooks/voucherify',
    };
    expect(twin.event.id).not.toBe(distribution.event.id);

    expect(await postAll(stack.base, [distribution, twin])).toEqual([202, 202]);
    const forEvent = (id: string) => (l: LogLine) =>
      l['handler'] === 'email' &&
      l['eventId'] === id &&
      (l.message === 'email sent' || l.message === 'business fact already handled: skipped');
    const [a, b] = await Promise.all([
      stack.worker.waitForLog(forEvent(distribution.event.id), 30_000),
      stack.worker.waitForLog(forEvent(twin.event.id), 30_000),
    ]);
    expect([a!.message, b!.message].sort()).toEqual(['business fact already handled: skipped', 'email sent']);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toEqual(['alex.doe@example.com']);
    expect(mails[0]!.raw).toMatch(/pending/i);
  }, 60_000);
});
