/*
 * Worker crashes: distinct events go through the real ingress and real
 * workers (processes) while workers are killed with SIGKILL and restarted.
 * Every 10th event has a twin: another event id reporting the same business
 * fact (transaction id), as a distribution and a project webhook do.
 * Afterwards every business fact of the acknowledged events must have had
 * each handler's effect exactly once, except for a small number of duplicates (a kill between a
 * handler's effect and the worker recording it done makes it run again:
 * at-least-once), which are counted and must stay at or below 1%.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { deletePrefix, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { Backlog, Effects, eventually, HttpClient, LONG, Load, report, SETTLE_MS, Stack } from './support/pipeline.js';

const EVENTS = LONG ? 20_000 : 1500;
const RATE = LONG ? 400 : 150;
/** Kill rounds; each restarts what it killed. Odd rounds kill one worker, even rounds all of them. */
const ROUNDS = LONG ? 6 : 2;

describe('worker processes killed with -9 mid-stream', () => {
  const url = testRedisUrl();
  const queuePrefix = uniquePrefix('chaos-w');
  const effectsRedis = new Redis(url, { maxRetriesPerRequest: null });
  const effects = new Effects(effectsRedis, `chaos:${queuePrefix}`);
  const stack = new Stack({ redisUrl: url, queuePrefix, effectsUrl: url, effectsKey: effects.key, workerEnv: { CHAOS_WORK_MS: '20' } });
  const backlogRedis = new Redis(url, { maxRetriesPerRequest: null });
  const backlog = new Backlog(backlogRedis, queuePrefix);
  let client: HttpClient | undefined;

  afterAll(async () => {
    client?.close();
    await stack.close();
    await backlog.close();
    await effects.cleanup();
    await deletePrefix(url, queuePrefix);
    await Promise.all([effectsRedis.quit(), backlogRedis.quit()]);
  });

  it(
    `loses no acknowledged event while workers are killed and restarted (${EVENTS} events, ${ROUNDS} rounds)`,
    async () => {
      await stack.startIngress();
      await Promise.all([stack.startWorker(), stack.startWorker()]);
      client = new HttpClient(stack.base);
      const load = new Load(client, `${queuePrefix}_w`);
      // Every 10th event has a twin (another event id, the same transaction): one effect per fact, crashes or not.
      const sending = load.run({ count: EVENTS, ratePerSec: RATE, concurrency: 16, twinEvery: 10 });

      let kills = 0;
      const killedMidJob: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const threshold = Math.floor((EVENTS * round) / (ROUNDS + 1));
        await eventually(`${threshold} acknowledged events`, () => (load.acked.size >= threshold ? true : undefined), 120_000);
        // The victims must be busy: some of their jobs are active right now.
        await eventually('jobs running', async () => ((await backlog.active()) > 0 ? true : undefined), 30_000, 20);
        const victims: AppProcess[] = round % 2 === 1 ? [stack.workers[0]!] : [...stack.workers];
        killedMidJob.push(await backlog.active());
        await Promise.all(victims.map((w) => stack.killWorker(w)));
        kills += victims.length;
        await Promise.all(victims.map(() => stack.startWorker()));
      }
      await sending;

      const tally = await effects.settleFacts(load.acked, SETTLE_MS);
      const drained = await eventually('queues drained', async () => ((await backlog.total()) === 0 ? true : undefined), 30_000);
      const stalled = stack.lines().filter((l) => l.message === 'job stalled (its worker died?): back to wait').length;
      report('worker-crash', {
        events: EVENTS,
        twins: EVENTS / 10,
        acknowledged: load.acked.size,
        businessFacts: tally.expected,
        statuses: load.statusSummary(),
        kills,
        activeJobsAtKills: killedMidJob,
        stalledJobsRecovered: stalled,
        lost: tally.lost,
        duplicates: tally.duplicates,
        duplicatePercent: Number(tally.duplicatePercent.toFixed(3)),
      });

      expect(drained).toBe(true);
      expect(kills).toBeGreaterThan(ROUNDS);
      expect(load.acked.size).toBe(EVENTS + EVENTS / 10);
      expect(tally.expected).toBe(EVENTS);
      expect(tally.lostExamples).toEqual([]);
      expect(tally.lost).toBe(0);
      expect(tally.duplicatePercent).toBeLessThanOrEqual(1);
      expect(await backlog.failed('handler-count-a')).toBe(0);
      expect(await backlog.failed('handler-count-b')).toBe(0);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 900_000 : 180_000,
  );
});
