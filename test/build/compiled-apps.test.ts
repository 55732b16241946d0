import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';

const ROOT = resolve(import.meta.dirname, '../..');
const fixture = JSON.parse(readFileSync(resolve(ROOT, 'packages/schema/fixtures/points_added.json'), 'utf8')) as {
  event: { id: string; type: string };
};

/**
 * The apps as production runs them: `node apps/<app>/dist/main.js`, no tsx,
 * with NODE_ENV=production, each resolving the workspace packages to their
 * compiled dist/ through the packages' default export condition.
 */
describe('the compiled apps, end to end', () => {
  const secret = 'compiled-secret-0123456789';
  const adminToken = 'compiled-admin-token-0123456789abcdef';
  const queuePrefix = uniquePrefix('compiled');
  let ingress: AppProcess;
  let worker: AppProcess;
  let admin: AppProcess;
  const url = { ingress: '', ingressMetrics: '', worker: '', admin: '' };

  beforeAll(async () => {
    const [port, metricsPort, adminPort, ingressMetricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    url.ingress = `http://127.0.0.1:${port}`;
    url.ingressMetrics = `http://127.0.0.1:${ingressMetricsPort}`;
    url.worker = `http://127.0.0.1:${metricsPort}`;
    url.admin = `http://127.0.0.1:${adminPort}`;
    const env = {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: queuePrefix,
      VOUCHERIFY_WEBHOOK_SECRET: secret,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      INGRESS_METRICS_PORT: String(ingressMetricsPort),
      ADMIN_PORT: String(adminPort),
      ADMIN_TOKEN: adminToken,
      HANDLERS: 'log',
    };
    ingress = startApp('ingress', env, { compiled: true });
    worker = startApp('worker', env, { compiled: true });
    admin = startApp('ops', env, { compiled: true, args: ['serve'] });
    await Promise.all([
      ingress.waitForLog((l) => l.message === 'ingress listening', 30_000),
      worker.waitForLog((l) => l.message === 'worker started', 30_000),
      admin.waitForLog((l) => l.message === 'admin listening', 30_000),
    ]);
  });

  afterAll(async () => {
    await Promise.all([ingress?.stop(), worker?.stop(), admin?.stop()]);
    await deletePrefix(testRedisUrl(), queuePrefix);
  });

  it('runs from dist/: no TypeScript source is loaded', () => {
    for (const app of [ingress, worker, admin]) {
      expect(app.process.spawnargs.some((a) => a.endsWith('/dist/main.js'))).toBe(true);
      expect(app.process.spawnargs.join(' ')).not.toContain('tsx');
    }
  });

  it('each app answers /readyz', async () => {
    for (const base of [url.ingress, url.worker, url.admin]) {
      const res = await fetch(`${base}/readyz`);
      expect(res.status, base).toBe(200);
      expect(await res.json()).toEqual({ status: 'ready' });
    }
  });

  it('takes a signed delivery through the ingress to the handler, and the admin API reports it done', async () => {
    const body = JSON.stringify(fixture);
    const res = await fetch(`${url.ingress}/webhooks/voucherify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, secret) },
      body,
    });
    expect(res.status).toBe(202);

    const handled = await worker.waitForLog((l) => l.message === 'event handled' && l['eventId'] === fixture.event.id);
    expect(handled).toMatchObject({ handler: 'log', eventType: 'customer.voucher.loyalty_card.points_added', points: 40 });

    const shown = await fetch(`${url.admin}/api/events/${fixture.event.id}`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(shown.status).toBe(200);
    expect(JSON.stringify(await shown.json())).toContain('"log"');
  });

  it('serves Prometheus metrics from the compiled ingress and worker', async () => {
    expect(await (await fetch(`${url.ingressMetrics}/metrics`)).text()).toContain('vouchflow_ingress_requests_total');
    expect(await (await fetch(`${url.worker}/metrics`)).text()).toContain('vouchflow_');
  });

  it('shuts every app down cleanly on SIGTERM', async () => {
    expect(await ingress.stop('SIGTERM')).toBe(0);
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(await admin.stop('SIGTERM')).toBe(0);
  });
});
