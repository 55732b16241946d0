import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { SECRET } from './support/pipeline.js';

/*
 * What the apps show beyond loopback. The ingress's public port serves the
 * webhook, /healthz and /readyz only; /metrics of the ingress and of the
 * worker listen on loopback unless METRICS_HOST says otherwise.
 */

const outside = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

const apps: AppProcess[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.kill();
});

/** The status, or the connection error's code (ECONNREFUSED when nothing listens on that address). */
const probe = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    (err: { cause?: { code?: string } }) => err.cause?.code ?? 'error',
  );

describe('metrics and readiness exposure of the real processes', () => {
  it('the ingress: no /metrics on the webhook port; /metrics on a loopback metrics port', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const app = startApp('ingress', {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: uniquePrefix('exposure'),
      VOUCHERIFY_WEBHOOK_SECRET: SECRET,
      PORT: String(port),
      INGRESS_METRICS_PORT: String(metricsPort),
    });
    apps.push(app);
    const listening = await app.waitForLog((l) => l.message === 'ingress listening', 30_000);
    expect(listening['metricsUrl']).toBe(`http://127.0.0.1:${metricsPort}`);
    expect(await probe(`http://127.0.0.1:${port}/metrics`)).toBe(404);
    expect(await probe(`http://127.0.0.1:${port}/readyz`)).toBe(200);
    expect(await probe(`http://127.0.0.1:${metricsPort}/metrics`)).toBe(200);
    if (outside) expect(await probe(`http://${outside}:${metricsPort}/metrics`)).toBe('ECONNREFUSED');
  });

  it('the worker: /metrics on loopback by default', async () => {
    const metricsPort = await freePort();
    const app = startApp('worker', {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: uniquePrefix('exposure'),
      HANDLERS: 'log',
      METRICS_PORT: String(metricsPort),
    });
    apps.push(app);
    await app.waitForLog((l) => l.message === 'worker started', 45_000);
    expect(await probe(`http://127.0.0.1:${metricsPort}/metrics`)).toBe(200);
    if (outside) expect(await probe(`http://${outside}:${metricsPort}/metrics`)).toBe('ECONNREFUSED');
  });
});
