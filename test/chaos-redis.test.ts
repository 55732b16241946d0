/*
 * Redis crash: the apps' Redis (a private, append-only redis-server) is killed
 * with SIGKILL mid-stream and restarted on the same port and data directory.
 * While it is down the ingress must answer 503 (so Voucherify retries) within
 * 3 s, /readyz must say 503 and /healthz 200. Once it is back, intake and the
 * workers resume by themselves, and every event acknowledged before, during
 * and after the outage has each handler's effect.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  acked,
  deliveryBody,
  eventually,
  expectFast503s,
  expectNoLoss,
  HttpClient,
  LONG,
  lossFigures,
  Pipeline,
  report,
  SETTLE_MS,
} from './support/pipeline.js';

const RATE = LONG ? 300 : 100;
const BEFORE = LONG ? 3000 : 300;
const AFTER = LONG ? 3000 : 300;
/** How long Redis stays down. */
const DOWN_MS = LONG ? 20_000 : 4000;

describe('Redis killed with -9 and restarted mid-stream', () => {
  const run = new Pipeline('chaos-r');
  const { queuePrefix } = run;
  afterAll(() => run.close());

  it(
    'answers 503 while Redis is down, recovers by itself and loses no acknowledged event',
    async () => {
      // As docker-compose runs it: the append-only file fsync'd before Redis answers (README "Durability").
      let redis = await run.startRedisServer({ appendOnly: true, args: ['--appendfsync', 'always'] });
      const { stack, load } = await run.start({ label: 'r', redisUrl: redis.url, workers: 2, workerEnv: { CHAOS_WORK_MS: '5' } });
      const sending = load.run({ ratePerSec: RATE, concurrency: 8 });

      await acked(load, BEFORE, 60_000);
      const ackedBefore = load.acked.size;
      await redis.kill();
      const killedAt = performance.now();

      // While down: every delivery is refused with 503 quickly; readiness fails, liveness does not.
      const probes = [];
      const probeClient = new HttpClient(stack.base);
      try {
        for (let i = 0; i < 5; i++) probes.push(await probeClient.deliver(deliveryBody(`evcus_${queuePrefix}_probe_${i}`)));
        const readyz = await probeClient.get('/readyz');
        const healthz = await probeClient.get('/healthz');
        // Let the stream run against the dead Redis for a while (the scenario's length, not a wait for a result).
        await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (performance.now() - killedAt))));
        const readyzLate = await probeClient.get('/readyz');
        const healthzLate = await probeClient.get('/healthz');

        const downFor = performance.now() - killedAt;
        redis = await run.startRedisServer({ appendOnly: true, args: ['--appendfsync', 'always'], port: redis.port, dir: redis.dir });
        const restartedAt = performance.now();
        const ready = await eventually(
          '/readyz 200 after the restart',
          async () => ((await probeClient.get('/readyz')).status === 200 ? performance.now() - restartedAt : undefined),
          30_000,
          50,
        );
        const ackedAtRestart = load.acked.size;
        const firstAck = await eventually(
          'a delivery acknowledged after the restart',
          () => (load.acked.size > ackedAtRestart ? performance.now() - restartedAt : undefined),
          30_000,
          20,
        );
        await acked(load, ackedAtRestart + AFTER, 60_000, `${AFTER} more acknowledged`);
        load.stop();
        await sending;
        // Voucherify retries what was refused; those must get in now.
        await load.resendRefused(30_000);

        const tally = await run.effects.settle(load.acked, SETTLE_MS);
        const drained = await run.backlog(run.connect(redis.url)).drained();
        report('redis-crash', {
          acknowledgedBeforeKill: ackedBefore,
          acknowledged: load.acked.size,
          statuses: load.statusSummary(),
          downMs: Math.round(downFor),
          probeStatuses: probes.map((p) => p.status),
          slowest503Ms: Math.round(Math.max(load.slowest.get(503) ?? 0, ...probes.map((p) => p.ms))),
          readyzWhileDown: [readyz.status, readyzLate.status],
          healthzWhileDown: [healthz.status, healthzLate.status],
          readyAfterRestartMs: Math.round(ready),
          firstAckAfterRestartMs: Math.round(firstAck),
          ...lossFigures(tally, true),
        });

        for (const p of probes) {
          expect(p.status).toBe(503);
          expect(p.ms).toBeLessThan(3000);
        }
        expectFast503s(load);
        expect(readyz.status).toBe(503);
        expect(readyzLate.status).toBe(503);
        expect(healthz.status).toBe(200);
        expect(healthzLate.status).toBe(200);
        expect(drained).toBe(true);
        // Duplicates are reported, not bounded, in this scenario.
        expectNoLoss(tally, Infinity);
        expect(stack.unexpectedExits()).toEqual([]);
      } finally {
        probeClient.close();
      }
    },
    LONG ? 600_000 : 120_000,
  );

  // Production logs are JSON (one object per line) so they can be shipped and searched. Regression
  // test: the worker used to open queues without an 'error' listener (apps/worker/src/create-worker.ts),
  // so BullMQ fell back to console.error and every reconnect attempt printed a raw stack trace to
  // stderr, about 200 lines per worker per 4 s outage. Fixed in 0d8dae1 (packages/pipeline).
  it("keeps every app's output JSON log lines while Redis is down", () => {
    expect(run.stack, 'the first test did not run').toBeDefined();
    const raw = run.stack!.otherOutput().filter((a) => a.output.length > 0);
    expect(raw.map((a) => `${a.app} (pid ${a.pid}): ${a.output.length} raw lines, first: ${a.output[0]}`)).toEqual([]);
  });
});
