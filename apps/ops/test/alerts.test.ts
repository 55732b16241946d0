import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import { createDeadLetterStore, type DeadLetter, type RedisDeadLetterStore } from '@vouchflow/pipeline';
import { alertText, createAlerter } from '../src/alerts.js';
import { Deployment, delivery, quietLogger, switchableHandler, waitForEvents } from './support.js';

/** A Slack-like incoming webhook on loopback that records what it is sent. */
class Webhook extends EventEmitter {
  readonly received: Array<{ text: string }> = [];
  status = 200;
  readonly server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.writeHead(this.status).end(this.status === 200 ? 'ok' : 'no');
      if (this.status === 200) {
        this.received.push(JSON.parse(body) as { text: string });
        this.emit('message');
      }
    });
  });
  url = '';
  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/abc`;
  }
  stop() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('dead-letter alerts', () => {
  const d = new Deployment();
  const crm = switchableHandler('crm');
  const webhook = new Webhook();
  let store: RedisDeadLetterStore;
  let crmEvents: QueueEvents;
  const INTERVAL = 4000;
  const alerter = () =>
    createAlerter({
      connection: d.redis,
      queuePrefix: d.prefix,
      deadLetters: store,
      webhookUrl: webhook.url,
      intervalMs: INTERVAL,
      pollMs: 100,
      logger: quietLogger(),
    });
  const deadLetter = async () => {
    const failed = waitForEvents(crmEvents, 'failed');
    await d.send(delivery());
    await failed;
  };

  beforeAll(async () => {
    crm.down = true;
    await webhook.start();
    await d.start([crm]);
    crmEvents = await d.events('crm');
    store = createDeadLetterStore({ connection: d.redis, queuePrefix: d.prefix });
  });

  afterAll(async () => {
    await store?.close();
    await webhook.stop();
    await d.cleanup();
  });

  it('stays quiet while there are no dead letters', async () => {
    expect(await alerter().check()).toBe(false);
    expect(webhook.received).toEqual([]);
  });

  it('tries again at the next round when the webhook fails', async () => {
    await deadLetter();
    webhook.status = 500;
    expect(await alerter().check()).toBe(false);
    webhook.status = 200;
    expect(await alerter().check()).toBe(true);
    expect(webhook.received).toHaveLength(1);
    expect(webhook.received[0]!.text).toContain('1 new dead letter ');
    expect(webhook.received[0]!.text).toContain('crm: 1');
  });

  it('sends at most one alert per interval, and sums what came in between into the next', async () => {
    const a = alerter();
    await deadLetter();
    await deadLetter();
    // The previous alert shut the gate for INTERVAL: nothing goes out yet.
    expect(await a.check()).toBe(false);
    const next = once(webhook, 'message');
    a.start();
    try {
      await next;
    } finally {
      await a.stop();
    }
    expect(webhook.received).toHaveLength(2);
    expect(webhook.received[1]!.text).toMatch(/2 new dead letters since .*\(crm: 2\); 3 in total\./);
    expect(webhook.received[1]!.text).toContain('pnpm ops dlq list');
    // Reported once: with nothing new, a later round stays quiet even with the gate open.
    await d.redis.del(`{${d.prefix}}:ops:alert:gate`);
    expect(await alerter().check()).toBe(false);
  });
});

describe('the alert text', () => {
  const entry = (handler: string | null, permanent: boolean, n: number): DeadLetter => ({
    id: `${handler === null ? 'intake' : `handler-${handler}`}/ev-evcus_${n}`,
    eventId: `evcus_${n}`,
    eventType: 'customer.voucher.loyalty_card.points_added',
    handler,
    attempts: permanent ? 1 : 3,
    reason: permanent ? 'PermanentError: 404 contact not found' : 'CRM answered 503',
    permanent,
    stack: null,
    firstFailedAt: 1_000,
    lastFailedAt: 2_000,
    delivery: '{}',
  });

  it('suggests a retry filtered to what can succeed, never a bare --all, and names the failures for good', () => {
    const text = alertText('vf', [entry('crm', false, 1), entry('crm', false, 2), entry('crm', true, 3), entry(null, true, 4)], 9, 0);
    expect(text).toContain('`pnpm ops dlq retry --all --handler crm --retryable-only` (2)');
    expect(text).toContain('1 failed for good (PermanentError): fix the cause first, see `pnpm ops dlq list --handler crm`');
    expect(text).toContain('1 failed for good (did not decode): fix the cause first, see `pnpm ops dlq list --decode-failures`');
    expect(text).not.toMatch(/dlq retry --all`/);
    expect(text).not.toContain('--decode-failures --retryable-only');
  });

  it('with only failures for good, suggests no retry at all', () => {
    const text = alertText('vf', [entry('crm', true, 1)], 1, 0);
    expect(text).not.toContain('dlq retry');
    expect(text).toContain('see `pnpm ops dlq list --handler crm`');
  });
});
