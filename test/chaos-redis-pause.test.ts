/*
 * Redis slow rather than gone: `CLIENT PAUSE <ms> WRITE` on the apps' Redis
 * (what a stalled fsync or a long fork looks like from the outside) while
 * deliveries keep coming. The ingress must not hang: it answers 503 within
 * about a second (ENQUEUE_TIMEOUT_MS), never a 2XX for what it could not
 * store. A delivery answered 503 may still have been stored when Redis woke
 * up; its re-send is then a duplicate (200), never a second event. Afterwards
 * every acknowledged event has each handler's effect exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisServer, testRedisUrl, uniquePrefix, type RedisServer } from '@vouchflow/test-support';
import { Backlog, deliveryBody, Effects, eventually, HttpClient, LONG, Load, report, SETTLE_MS, Stack } from './support/pipeline.js';

const RATE = LONG ? 300 : 100;
const PAUSE_MS = LONG ? 15_000 : 4000;

describe('Redis paused (slow, not down) mid-stream', () => {
  const effectsUrl = testRedisUrl();
  const queuePrefix = uniquePrefix('chaos-p');
  const effectsRedis = new Redis(effectsUrl, { maxRetriesPerRequest: null });
  const effects = new Effects(effectsRedis, `chaos:${queuePrefix}`);
  let redis: RedisServer | undefined;
  let admin: Redis | undefined;
  let stack: Stack | undefined;
  let client: HttpClient | undefined;
  let load: Load | undefined;
  let backlog: Backlog | undefined;

  afterAll(async () => {
    load?.stop();
    client?.close();
    await stack?.close();
    await backlog?.close();
    admin?.disconnect();
    await redis?.stop();
    await effects.cleanup();
    await effectsRedis.quit();
  });

  it(
    'answers 503 quickly while Redis stalls and loses or doubles nothing',
    async () => {
      redis = await startRedisServer({ appendOnly: true });
      admin = new Redis(redis.url, { maxRetriesPerRequest: null });
      backlog = new Backlog(admin, queuePrefix);
      stack = new Stack({ redisUrl: redis.url, queuePrefix, effectsUrl, effectsKey: effects.key });
      await stack.startIngress();
      await stack.startWorker();
      client = new HttpClient(stack.base);
      load = new Load(client, `${queuePrefix}_p`);
      const sending = load.run({ ratePerSec: RATE, concurrency: 16 });

      await eventually('200 acknowledged', () => (load!.acked.size >= 200 ? true : undefined), 60_000);
      await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
      const pausedAt = performance.now();
      const probe = await client.deliver(deliveryBody(`evcus_${queuePrefix}_probe`));
      const readyz = await client.get('/readyz');
      const ackedDuringPause = load.acked.size;
      await eventually('Redis writable again', () => (performance.now() - pausedAt > PAUSE_MS ? true : undefined), PAUSE_MS + 5000, 50);
      await eventually('200 more acknowledged', () => (load!.acked.size >= ackedDuringPause + 200 ? true : undefined), 60_000);
      load.stop();
      await sending;
      const refused = load.refused.size;
      const duplicatesBefore = load.statuses.get(200) ?? 0;
      await load.resendRefused(30_000);
      if (probe.status !== 202) await load.one(`evcus_${queuePrefix}_probe`);
      const storedDespite503 = (load.statuses.get(200) ?? 0) - duplicatesBefore;

      const tally = await effects.settle(load.acked, SETTLE_MS);
      const drained = await eventually('queues drained', async () => ((await backlog!.total()) === 0 ? true : undefined), 30_000);
      report('redis-pause', {
        pauseMs: PAUSE_MS,
        acknowledged: load.acked.size,
        statuses: load.statusSummary(),
        probe: { status: probe.status, ms: Math.round(probe.ms) },
        slowest503Ms: Math.round(Math.max(load.slowest.get(503) ?? 0, probe.status === 503 ? probe.ms : 0)),
        readyzWhilePaused: readyz.status,
        refusedThenResent: refused,
        storedDespite503,
        lost: tally.lost,
        duplicates: tally.duplicates,
      });

      expect(probe.status).toBe(503);
      expect(probe.ms).toBeLessThan(3000);
      expect(load.slowest.get(503) ?? 0).toBeLessThan(3000);
      expect([...load.statuses.keys()].filter((s) => s >= 500 && s !== 503)).toEqual([]);
      expect(drained).toBe(true);
      expect(tally.lostExamples).toEqual([]);
      expect(tally.lost).toBe(0);
      expect(tally.duplicates).toBe(0);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 300_000 : 120_000,
  );
});
