import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { ConfigError } from '@vouchflow/core';
import { loadIngressConfig } from '../src/config.js';
import { SECRET, deliveryBody, startTestIngress, type TestIngress } from './support.js';

/*
 * Production refuses the development conveniences that let anyone post
 * deliveries, at start, naming each variable. Checked against the real
 * process (`pnpm start:ingress`): it must exit, not listen.
 */

describe('the ingress process with NODE_ENV=production', () => {
  let app: AppProcess | undefined;
  afterEach(async () => {
    await app?.kill();
    app = undefined;
  });

  /** Exits (with its code and what it printed) or starts listening, whichever comes first. */
  const startOrRefuse = async (env: Record<string, string>) => {
    const port = await freePort();
    app = startApp('ingress', { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: uniquePrefix('prod'), PORT: String(port), ...env });
    const started = app
      .waitForLog((l) => l.message === 'ingress listening', 30_000)
      .then(
        () => 'listening' as const,
        () => 'exited' as const,
      );
    const outcome = await Promise.race([app.exited.then((code) => ({ code })), started.then((s) => ({ code: s }))]);
    return { outcome, output: [...app.otherOutput, ...app.lines.map((l) => JSON.stringify(l))].join('\n') };
  };

  it('refuses WEBHOOK_ALLOW_UNSIGNED=true, naming it', async () => {
    const { outcome, output } = await startOrRefuse({ WEBHOOK_ALLOW_UNSIGNED: 'true' });
    expect(outcome).toEqual({ code: 1 });
    expect(output).toMatch(/WEBHOOK_ALLOW_UNSIGNED: true is refused with NODE_ENV=production/);
  });

  it('refuses WEBHOOK_ALLOW_UNSIGNED=true even next to a good secret', async () => {
    const { outcome, output } = await startOrRefuse({ WEBHOOK_ALLOW_UNSIGNED: 'true', VOUCHERIFY_WEBHOOK_SECRET: 'x'.repeat(40) });
    expect(outcome).toEqual({ code: 1 });
    expect(output).toMatch(/WEBHOOK_ALLOW_UNSIGNED/);
  });

  it('refuses a secret shorter than 16 characters without echoing it', async () => {
    const { outcome, output } = await startOrRefuse({ VOUCHERIFY_WEBHOOK_SECRET: `${'y'.repeat(40)},hunter2` });
    expect(outcome).toEqual({ code: 1 });
    expect(output).toMatch(/VOUCHERIFY_WEBHOOK_SECRET: 1 of 2 secret\(s\) shorter than 16 characters/);
    expect(output).not.toContain('hunter2');
  });

  it('starts with a long secret', async () => {
    const { outcome } = await startOrRefuse({ VOUCHERIFY_WEBHOOK_SECRET: SECRET });
    expect(outcome).toEqual({ code: 'listening' });
  });
});

describe('settings outside production', () => {
  it('keeps unsigned delivery and short secrets for local experiments', () => {
    expect(loadIngressConfig({ WEBHOOK_ALLOW_UNSIGNED: 'true' }).allowUnsigned).toBe(true);
    expect(loadIngressConfig({ VOUCHERIFY_WEBHOOK_SECRET: 'short' }).secrets).toEqual(['short']);
    expect(() => loadIngressConfig({ NODE_ENV: 'production', VOUCHERIFY_WEBHOOK_SECRET: 'short' })).toThrow(ConfigError);
  });
});

describe('WEBHOOK_ALLOW_UNSIGNED=true next to a secret', () => {
  const prefix = uniquePrefix('unsigned-with-secret');
  let t: TestIngress;
  beforeAll(async () => {
    t = await startTestIngress(testRedisUrl(), prefix, { secrets: [SECRET], allowUnsigned: true });
  });
  afterAll(async () => {
    await t?.close();
    await deletePrefix(testRedisUrl(), prefix);
  });

  it('still refuses a wrong signature with 401', async () => {
    const res = await t.client.deliver(deliveryBody(), 'not-the-secret-at-all');
    expect(res.status).toBe(401);
    expect(res.json()).toEqual({ error: 'signature does not match' });
  });

  it('accepts a delivery without a signature, as asked', async () => {
    const res = await t.client.post('/webhooks/voucherify', deliveryBody(), { 'content-type': 'application/json' });
    expect(res.status).toBe(202);
  });
});
