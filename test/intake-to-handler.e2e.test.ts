import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../packages/schema/fixtures/points_added.json'), 'utf8')) as {
  event: { id: string; type: string };
};

describe('a signed delivery from intake to handler, with the real apps as processes', () => {
  const secret = 'e2e-secret-0123456789';
  const queuePrefix = uniquePrefix('e2e');
  let ingress: AppProcess;
  let worker: AppProcess;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: queuePrefix,
      VOUCHERIFY_WEBHOOK_SECRET: secret,
      PORT: String(port),
      HANDLERS: 'log',
    };
    ingress = startApp('ingress', env);
    worker = startApp('worker', env);
    await Promise.all([
      ingress.waitForLog((l) => l.message === 'ingress listening', 30_000),
      worker.waitForLog((l) => l.message === 'worker started', 30_000),
    ]);
  });

  afterAll(async () => {
    await Promise.all([ingress?.stop(), worker?.stop()]);
    await deletePrefix(testRedisUrl(), queuePrefix);
  });

  it('answers 202 to the compact, signed fixture and the worker hands the decoded event to the handler', async () => {
    const body = JSON.stringify(fixture);
    const res = await fetch(`${base}/webhooks/voucherify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, secret) },
      body,
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ status: 'accepted', eventId: fixture.event.id });

    const handled = await worker.waitForLog((l) => l.message === 'event handled' && l['eventId'] === fixture.event.id);
    expect(handled).toMatchObject({
      handler: 'log',
      eventType: 'customer.voucher.loyalty_card.points_added',
      points: 40,
      balance: 2641,
      attempt: 1,
    });
  });

  it('refuses a delivery signed with another secret', async () => {
    const body = JSON.stringify({ ...fixture, event: { ...fixture.event, id: 'evcus_forged' } });
    const res = await fetch(`${base}/webhooks/voucherify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, 'not-the-secret') },
      body,
    });
    expect(res.status).toBe(401);
  });

  it('reports liveness and readiness', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('shuts both apps down cleanly on SIGTERM', async () => {
    expect(await ingress.stop('SIGTERM')).toBe(0);
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(worker.lines.some((l) => l.message === 'shutdown complete')).toBe(true);
  });
});
