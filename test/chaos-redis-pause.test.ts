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
import {
  acked,
  deliveryBody,
  eventually,
  expectFast503s,
  expectNoLoss,
  LONG,
  lossFigures,
  Pipeline,
  report,
  SETTLE_MS,
} from './support/pipeline.js';

const RATE = LONG ? 300 : 100;
const PAUSE_MS = LONG ? 15_000 : 4000;

describe('Redis paused (slow, not down) mid-stream', () => {
  const run = new Pipeline('chaos-p');
  const { queuePrefix } = run;
  afterAll(() => run.close());

  it(
    'answers 503 quickly while Redis stalls and loses or doubles nothing',
    async () => {
      const redis = await run.startRedisServer({ appendOnly: true });
      const admin = run.connect(redis.url);
      const backlog = run.backlog(admin);
      const { stack, client, load } = await run.start({ label: 'p', redisUrl: redis.url });
      const sending = load.run({ ratePerSec: RATE, concurrency: 16 });

      await acked(load, 200, 60_000);
      await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
      const pausedAt = performance.now();
      const probe = await client.deliver(deliveryBody(`evcus_${queuePrefix}_probe`));
      const readyz = await client.get('/readyz');
      const ackedDuringPause = load.acked.size;
      await eventually('Redis writable again', () => (performance.now() - pausedAt > PAUSE_MS ? true : undefined), PAUSE_MS + 5000, 50);
      await acked(load, ackedDuringPause + 200, 60_000, '200 more acknowledged');
      load.stop();
      await sending;
      const refused = load.refused.size;
      const duplicatesBefore = load.statuses.get(200) ?? 0;
      await load.resendRefused(30_000);
      if (probe.status !== 202) await load.one(`evcus_${queuePrefix}_probe`);
      const storedDespite503 = (load.statuses.get(200) ?? 0) - duplicatesBefore;

      const tally = await run.effects.settle(load.acked, SETTLE_MS);
      const drained = await backlog.drained();
      report('redis-pause', {
        pauseMs: PAUSE_MS,
        acknowledged: load.acked.size,
        statuses: load.statusSummary(),
        probe: { status: probe.status, ms: Math.round(probe.ms) },
        slowest503Ms: Math.round(Math.max(load.slowest.get(503) ?? 0, probe.status === 503 ? probe.ms : 0)),
        readyzWhilePaused: readyz.status,
        refusedThenResent: refused,
        storedDespite503,
        ...lossFigures(tally),
      });

      expect(probe.status).toBe(503);
      expect(probe.ms).toBeLessThan(3000);
      expectFast503s(load);
      expect(drained).toBe(true);
      expectNoLoss(tally);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 300_000 : 120_000,
  );
});
