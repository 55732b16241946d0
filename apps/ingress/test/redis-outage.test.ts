import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, uniquePrefix, type RedisServer } from '@vouchflow/test-support';
import { waitForReady, SECOND } from '@vouchflow/core';
import { Redis } from 'ioredis';
import { deliveryBody, newEventId, startTestIngress, storedJobs, type TestIngress } from './support.js';

/** Resolves on the next `event` of `client` (ioredis emits ready/end/close). */
const FSYNC_ALWAYS = ['--appendfsync', 'always'];

const next = (client: Redis | TestIngress['redis'], event: string) => new Promise<void>((resolve) => client.once(event, () => resolve()));

describe('Redis stopped, slow, and started again (a private redis-server)', () => {
  let server: RedisServer;
  let t: TestIngress;
  const prefix = uniquePrefix('outage');

  beforeAll(async () => {
    // fsync on every write: what the assertions need (an acknowledged delivery survives the kill), see README "Durability".
    server = await startRedisServer({ appendOnly: true, args: FSYNC_ALWAYS });
    t = await startTestIngress(server.url, prefix);
  });

  afterAll(async () => {
    await t?.close();
    await server?.stop();
  });

  it('answers 503 with Retry-After within about a second while Redis is slow, and stores nothing it acknowledged', async () => {
    const admin = new Redis(server.url);
    try {
      // Every client command waits 3 s: Redis is reachable but too slow to answer in time.
      await admin.client('PAUSE', 3000, 'ALL');
      const eventId = newEventId();
      const res = await t.client.deliver(deliveryBody(eventId));
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.ms).toBeLessThan(1.8 * SECOND);
      expect(t.lines.some((l) => l['message'] === 'delivery rejected' && l['status'] === 503 && l['eventId'] === eventId)).toBe(true);
      await admin.client('UNPAUSE');
      // Once Redis answers again the retry is stored (or found stored: the slow attempt may have landed).
      const retry = await t.client.deliver(deliveryBody(eventId));
      expect([200, 202]).toContain(retry.status);
      expect((await storedJobs(t.queue)).filter((j) => j.data.eventId === eventId)).toHaveLength(1);
    } finally {
      admin.disconnect();
    }
  });

  it('answers 503 at once while Redis is down, reports not ready, stays live, and accepts again once Redis is back', async () => {
    const accepted = newEventId();
    expect((await t.client.deliver(deliveryBody(accepted))).status).toBe(202);

    const closed = next(t.redis, 'close');
    await server.kill();
    await closed;

    const eventId = newEventId();
    const refused = await t.client.deliver(deliveryBody(eventId));
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.ms).toBeLessThan(1.5 * SECOND);
    const ready = await t.client.get('/readyz');
    expect(ready.status).toBe(503);
    // The public port names the problem, not Redis's own error text (addresses, ports, internals).
    expect(ready.json()).toEqual({ status: 'unavailable', problems: ['redis unavailable'] });
    expect(ready.ms).toBeLessThan(1.5 * SECOND);
    expect((await t.client.get('/healthz')).status).toBe(200);

    // Same port and data directory: the append-only file brings the accepted delivery back.
    server = await startRedisServer({ port: server.port, dir: server.dir, appendOnly: true, args: FSYNC_ALWAYS });
    await waitForReady(t.redis, 10 * SECOND);
    expect((await t.client.get('/readyz')).status).toBe(200);
    const again = await t.client.deliver(deliveryBody(eventId));
    expect(again.status).toBe(202);
    expect((await t.client.deliver(deliveryBody(accepted))).json()).toMatchObject({ status: 'duplicate' });
    const ids = (await storedJobs(t.queue)).map((j) => j.data.eventId);
    expect(ids).toEqual(expect.arrayContaining([accepted, eventId]));
  });

  it('answers 503 while Redis refuses writes (maxmemory reached), never 2XX', async () => {
    const admin = new Redis(server.url);
    try {
      await admin.config('SET', 'maxmemory', '1');
      const res = await t.client.deliver(deliveryBody());
      expect(res.status).toBe(503);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }
    expect((await t.client.deliver(deliveryBody())).status).toBe(202);
  });
});
