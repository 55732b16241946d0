/*
 * "The CRM was down": issue 15's test of the circuit breaker. A local HTTP
 * server stands in for HubSpot and answers 503 for 20 s, then 200. The worker
 * (a real process) runs the built-in `crm` and `email` handlers, e-mail going
 * to a real SMTP server on loopback, with MAX_ATTEMPTS=3 and a short backoff.
 * With the breaker, the CRM's units wait through the outage and every upsert
 * arrives once HubSpot answers, with no dead letter and no operator; e-mails
 * flow meanwhile. Without it (CIRCUIT_FAILURES=0), the same outage makes dead
 * letters.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { circuitKey, createDeadLetterStore, intakeJobId, openIntakeQueue, readCircuit } from '@vouchflow/pipeline';
import { deletePrefix, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { startSmtpSink } from './support/smtp-sink.js';
import { eventually } from './support/pipeline.js';

const ROOT = resolve(import.meta.dirname, '..');
const fixture = JSON.parse(readFileSync(resolve(ROOT, 'packages/handlers/fixtures/points_added_with_email.json'), 'utf8')) as {
  event: Record<string, unknown>;
  data: { transaction: Record<string, unknown>; customer: Record<string, unknown> } & Record<string, unknown>;
};
const OUTAGE_MS = 20_000;
const EVENTS = 50;

/** HubSpot's batch upsert, down for `OUTAGE_MS` from the first call it gets; also takes the alert webhook's posts. */
async function startHubSpot() {
  // From the first call, so the worker's start-up on a busy machine does not eat into the outage.
  let startedAt: number | undefined;
  const upserted = new Set<string>();
  const alerts: string[] = [];
  let refused = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (req.url === '/alert') {
        alerts.push((JSON.parse(body) as { text: string }).text);
        res.writeHead(200).end('ok');
        return;
      }
      startedAt ??= Date.now();
      if (Date.now() - startedAt < OUTAGE_MS) {
        refused++;
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Service Unavailable' }));
        return;
      }
      const { inputs } = JSON.parse(body) as { inputs: Array<{ id: string }> };
      for (const input of inputs) upserted.add(input.id);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'COMPLETE', results: [] }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    /** Whether the outage is still on (it has not begun before the first call). */
    down: () => startedAt === undefined || Date.now() - startedAt < OUTAGE_MS,
    upserted,
    alerts,
    refused: () => refused,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('a CRM outage behind the circuit breaker (issue 15)', () => {
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closers.reverse()) await close();
    closers.length = 0;
  });

  async function scenario(extraEnv: Record<string, string>) {
    const url = testRedisUrl();
    const prefix = uniquePrefix('circuit');
    const redis = new Redis(url, { maxRetriesPerRequest: null });
    closers.push(async () => {
      await deletePrefix(url, prefix);
      await redis.quit();
    });
    const sink = await startSmtpSink();
    closers.push(() => sink.close());
    const hubspot = await startHubSpot();
    closers.push(() => hubspot.close());
    const worker: AppProcess = startApp('worker', {
      REDIS_URL: url,
      QUEUE_PREFIX: prefix,
      HANDLERS: 'email,crm',
      SMTP_URL: sink.url,
      CRM_URL: hubspot.url,
      CRM_TOKEN: 'pat-test-token-0123456789',
      MAX_ATTEMPTS: '3',
      BACKOFF_MS: '200',
      BACKOFF_MAX_MS: '1000',
      METRICS_PORT: '0',
      ALERT_WEBHOOK_URL: `${hubspot.url}/alert`,
      ...extraEnv,
    });
    closers.push(() => worker.stop('SIGTERM', 10_000));
    await worker.waitForLog((l) => l.message === 'worker started', 30_000);
    const deadLetters = createDeadLetterStore({ connection: redis, queuePrefix: prefix });
    closers.push(() => deadLetters.close());

    const intake = openIntakeQueue({ connection: redis, queuePrefix: prefix });
    closers.push(() => intake.close());
    for (let i = 0; i < EVENTS; i++) {
      const eventId = `evcus_circuit_${i}_${Date.now()}`;
      const body = JSON.stringify({
        ...fixture,
        event: { ...fixture.event, id: eventId },
        data: {
          ...fixture.data,
          customer: { ...fixture.data.customer, id: `cust_circuit_${i}`, email: `customer${i}@example.com` },
          transaction: { ...fixture.data.transaction, id: `vtx_${eventId}` },
        },
      });
      await intake.add(
        'delivery',
        { body, eventId, eventType: String(fixture.event['type']), receivedAt: Date.now() },
        { jobId: intakeJobId(eventId) },
      );
    }
    return { redis, prefix, sink, hubspot, worker, deadLetters };
  }

  it('holds the CRM units through a 20 s outage: no dead letter, e-mails flow, every upsert arrives after it, unattended', async () => {
    const { redis, prefix, sink, hubspot, worker, deadLetters } = await scenario({
      // Short cool-downs keep the test short; the outage stays 20 s.
      CIRCUIT_COOLDOWN_MS: '2000',
      CIRCUIT_COOLDOWN_MAX_MS: '4000',
    });

    await worker.waitForLog((l) => l.message?.startsWith('circuit opened') === true && l['handler'] === 'crm', 15_000);
    expect((await readCircuit(redis, prefix, 'crm')).state).toMatch(/open/);
    // E-mails keep flowing while the CRM is down.
    await sink.waitFor(EVENTS, 15_000);
    expect(hubspot.down()).toBe(true);
    expect(hubspot.upserted.size).toBe(0);

    await eventually('all 50 upserts', () => (hubspot.upserted.size === EVENTS ? true : undefined), OUTAGE_MS + 30_000, 200);
    expect(await deadLetters.count({ handler: 'crm' })).toBe(0);
    expect(await deadLetters.count()).toBe(0);
    expect((await readCircuit(redis, prefix, 'crm')).state).toBe('closed');
    expect(worker.lines.some((l) => l.message?.startsWith('circuit closed') === true && l['handler'] === 'crm')).toBe(true);
    // The breaker spared HubSpot most of the calls: far fewer than three tries per unit during the outage.
    expect(hubspot.refused()).toBeLessThan(EVENTS);
    // One alert when it opened, one when it closed.
    await eventually('the closing alert', () => (hubspot.alerts.length >= 2 ? true : undefined), 5000);
    expect(hubspot.alerts).toHaveLength(2);
    expect(hubspot.alerts[0]).toMatch(/circuit of handler crm opened after 10 failures/);
    expect(hubspot.alerts[1]).toMatch(/circuit of handler crm closed/);
    expect(sink.received).toHaveLength(EVENTS);
  }, 90_000);

  it('without the breaker (CIRCUIT_FAILURES=0) the same outage makes CRM dead letters', async () => {
    const { redis, prefix, sink, hubspot, deadLetters } = await scenario({ CIRCUIT_FAILURES: '0' });
    const dead = await eventually(
      'CRM dead letters',
      async () => {
        const n = await deadLetters.count({ handler: 'crm' });
        return n >= 10 ? n : undefined;
      },
      OUTAGE_MS,
      200,
    );
    expect(hubspot.down()).toBe(true);
    expect(dead).toBeGreaterThanOrEqual(10);
    expect(await redis.exists(circuitKey(prefix, 'crm'))).toBe(0);
    expect(hubspot.alerts).toEqual([]);
    await sink.waitFor(EVENTS, 15_000);
  }, 60_000);
});
