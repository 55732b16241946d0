import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { PermanentError, RetryLaterError } from '@vouchflow/handler-kit';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { createCustomerLookup, upsertContacts } from '@vouchflow/handlers';
import { json, startHttp, type TestHttp } from './support/http.js';

/*
 * A base URL with a path (a gateway prefix) keeps it, and ids from payloads
 * stay one path segment: checked against a real HTTP server's request line.
 */

let server: TestHttp;
let redis: Redis;
const prefix = uniquePrefix('api-url');

beforeAll(async () => {
  server = await startHttp((req, res) =>
    req.method === 'GET' ? json(res, 200, { email: 'alex@shop.example' }) : json(res, 200, { status: 'COMPLETE', results: [] }),
  );
  redis = new Redis(testRedisUrl());
});

afterAll(async () => {
  await server.close();
  redis.disconnect();
  await deletePrefix(testRedisUrl(), prefix);
});

const lookup = (apiUrl: string) =>
  createCustomerLookup({ apiUrl, appId: 'a', secretKey: 's', redis, queuePrefix: prefix, cacheSeconds: 0 });

describe('URLs of downstream APIs', () => {
  it('keeps the path of VOUCHERIFY_API_URL and encodes the customer id as one segment', async () => {
    server.requests.length = 0;
    await lookup(`${server.url}/gateway/voucherify`)('cust_1', AbortSignal.timeout(5000));
    await lookup(`${server.url}/gateway/voucherify/`)('a/b?c=d#e', AbortSignal.timeout(5000));
    expect(server.requests.map((r) => r.url)).toEqual([
      '/gateway/voucherify/v1/customers/cust_1',
      '/gateway/voucherify/v1/customers/a%2Fb%3Fc%3Dd%23e',
    ]);
  });

  it('refuses the ids . and .. as permanent, without calling the API', async () => {
    server.requests.length = 0;
    for (const id of ['.', '..']) {
      await expect(lookup(`${server.url}/gateway`)(id, AbortSignal.timeout(5000))).rejects.toBeInstanceOf(PermanentError);
    }
    expect(server.requests).toEqual([]);
  });

  it('keeps the path of CRM_URL', async () => {
    server.requests.length = 0;
    await upsertContacts(
      { baseUrl: `${server.url}/hub/`, token: 't' },
      [{ idProperty: 'p', id: '..', properties: {} }],
      AbortSignal.timeout(5000),
    );
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /hub/crm/v3/objects/contacts/batch/upsert']);
  });

  it('turns a 429 with a 400-digit Retry-After into a finite delay (the worker caps it)', async () => {
    const previous = server.respond;
    server.respond = (_req, res) => json(res, 429, { message: 'slow down' }, { 'retry-after': '9'.repeat(400) });
    try {
      const error = await lookup(server.url)('cust_2', AbortSignal.timeout(5000)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryLaterError);
      expect(Number.isFinite((error as RetryLaterError).delayMs)).toBe(true);
      expect(new RetryLaterError('x', { delayMs: Number.NaN }).delayMs).toBe(0);
      expect(new RetryLaterError('x', { delayMs: -5 }).delayMs).toBe(0);
    } finally {
      server.respond = previous;
    }
  });
});
