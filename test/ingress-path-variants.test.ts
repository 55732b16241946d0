/*
 * Regression test, found by test/fuzz-ingress.test.ts. Express routes
 * case-insensitively and ignores a trailing slash, so `POST
 * /webhooks/voucherify/` (a webhook URL typed with a trailing slash) and
 * `/WEBHOOKS/VOUCHERIFY` reach the webhook handler. The error handler of
 * apps/ingress/src/app.ts used to map body-parser errors (413 too large, 415
 * unsupported encoding, 400 unreadable) only when `req.path === WEBHOOK_PATH`
 * exactly; on the variants they fell through to "unexpected error", were
 * logged at error level and answered 503 + Retry-After, so Voucherify would
 * have retried for 2.5 days a delivery that can never succeed. Fixed in
 * a232027 (the route answers its body errors itself). These tests expect the
 * same answer on every path the route serves.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis, createLogger, createRedis, waitForReady, SECOND, type RedisClient } from '@vouchflow/core';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { DEFAULT_SETTINGS } from '../apps/ingress/src/config.js';
import { startIngress, type RunningIngress } from '../apps/ingress/src/ingress.js';
import { deliveryBody, HttpClient, SECRET } from './support/pipeline.js';

const BODY_LIMIT = 4 * 1024;
const PATHS = ['/webhooks/voucherify', '/webhooks/voucherify/', '/WEBHOOKS/VOUCHERIFY'];

describe('the webhook route answers the same on every path Express routes to it', () => {
  const url = testRedisUrl();
  const queuePrefix = uniquePrefix('paths');
  let redis: RedisClient;
  let ingress: RunningIngress;
  let client: HttpClient;

  beforeAll(async () => {
    redis = createRedis({ urls: [url], role: 'request-path', connectionName: 'paths' });
    redis.on('error', () => {});
    await waitForReady(redis, 10 * SECOND);
    const logger = createLogger({ level: 'error', json: true, stream: new Writable({ write: (_c, _e, cb) => cb() }) });
    ingress = await startIngress({
      settings: { ...DEFAULT_SETTINGS, secrets: [SECRET], queuePrefix, bodyLimitBytes: BODY_LIMIT },
      redis,
      logger,
      host: '127.0.0.1',
    });
    client = new HttpClient(ingress.url, { keepAlive: false });
  });

  afterAll(async () => {
    client?.close();
    await ingress?.stop();
    if (redis) await closeRedis(redis);
    await deletePrefix(url, queuePrefix);
  });

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    client.send('POST', path, body, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, SECRET), ...headers });

  it.each(PATHS)('%s: a signed delivery is accepted (202)', async (path) => {
    const answer = await post(path, deliveryBody(`evcus_${queuePrefix}_${PATHS.indexOf(path)}`));
    expect(answer.status).toBe(202);
  });

  it.each(PATHS)('%s: a body over the limit is 413, not 503', async (path) => {
    const answer = await post(path, JSON.stringify({ event: { id: 'evcus_big', type: 'x' }, pad: 'x'.repeat(BODY_LIMIT * 2) }));
    expect(answer.status).toBe(413);
  });

  it.each(PATHS)('%s: an unsupported Content-Encoding is 415, not 503', async (path) => {
    const answer = await post(path, deliveryBody(`evcus_${queuePrefix}_enc`), { 'content-encoding': 'x-unknown' });
    expect(answer.status).toBe(415);
  });
});
