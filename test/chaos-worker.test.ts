/*
 * Worker crashes: distinct events go through the real ingress and real
 * workers (processes) while workers are killed with SIGKILL and restarted.
 * Every 10th event has a twin: another event id reporting the same business
 * fact (transaction id), as a distribution and a project webhook do.
 * Afterwards every business fact of the acknowledged events must have had
 * each handler's effect: lost 0, and none twice: duplicates 0. A kill between
 * a handler's effect and its done record leaves the unit in doubt; its next
 * claim says so, and the counting handler's `wasDone` looks the effect up by
 * idempotency key (as a downstream that keeps them would) instead of running
 * it again. The test reports the units in doubt and how each was settled
 * (their `unit in doubt` lines), and how long the effect-to-record window was,
 * from every unit the workers recorded done (their `unit recorded done` lines).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type AppProcess } from '@vouchflow/test-support';
import { acked, expectNoLoss, LONG, lossFigures, Pipeline, report, SETTLE_MS } from './support/pipeline.js';

const EVENTS = LONG ? 20_000 : 2000;
const RATE = LONG ? 400 : 150;
/** Kill rounds; each restarts what it killed. Odd rounds kill one worker, even rounds all of them (4 rounds: 6 kills). */
const ROUNDS = LONG ? 6 : 4;

/** Percentiles of the effect-to-record window, in ms, from the workers' debug lines. */
function recordWindow(lines: ReadonlyArray<Record<string, unknown>>): Record<string, number> {
  const ms = lines
    .filter((l) => l['message'] === 'unit recorded done' && typeof l['recordMs'] === 'number')
    .map((l) => l['recordMs'] as number)
    .sort((a, b) => a - b);
  const at = (q: number) => Number((ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN).toFixed(2));
  return { units: ms.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

/** Units in doubt (an earlier run never ended), by how they were settled, from the workers' lines. */
function inDoubt(lines: ReadonlyArray<Record<string, unknown>>): Record<string, number> {
  const counts: Record<string, number> = { units: 0, confirmed_done: 0, ran_again: 0, check_failed: 0, ran_unchecked: 0 };
  for (const l of lines) {
    if (typeof l['message'] !== 'string' || !l['message'].startsWith('unit in doubt')) continue;
    counts['units']!++;
    const resolution = String(l['resolution']);
    counts[resolution] = (counts[resolution] ?? 0) + 1;
  }
  return counts;
}

describe('worker processes killed with -9 mid-stream', () => {
  const run = new Pipeline('chaos-w');
  const backlog = run.backlog();
  afterAll(() => run.close());

  it(
    `loses no acknowledged event while workers are killed and restarted (${EVENTS} events, ${ROUNDS} rounds)`,
    async () => {
      const { stack, load } = await run.start({ label: 'w', workers: 2, workerEnv: { CHAOS_WORK_MS: '20', LOG_LEVEL: 'debug' } });
      // Every 10th event has a twin (another event id, the same transaction): one effect per fact, crashes or not.
      const sending = load.run({ count: EVENTS, ratePerSec: RATE, concurrency: 16, twinEvery: 10 });

      let kills = 0;
      const killedMidJob: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const threshold = Math.floor((EVENTS * round) / (ROUNDS + 1));
        await acked(load, threshold, 120_000, `${threshold} acknowledged events`);
        // The victims must be busy: some of their jobs are active right now.
        await backlog.busy();
        const victims: AppProcess[] = round % 2 === 1 ? [stack.workers[0]!] : [...stack.workers];
        killedMidJob.push(await backlog.active());
        await Promise.all(victims.map((w) => stack.killWorker(w)));
        kills += victims.length;
        await Promise.all(victims.map(() => stack.startWorker()));
      }
      await sending;

      const tally = await run.effects.settleFacts(load.acked, SETTLE_MS);
      const drained = await backlog.drained();
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
        inDoubt: inDoubt(stack.lines()),
        recordWindowMs: recordWindow(stack.lines()),
        ...lossFigures(tally, true),
      });

      expect(drained).toBe(true);
      expect(kills).toBeGreaterThanOrEqual(LONG ? ROUNDS : 5);
      expect(load.acked.size).toBe(EVENTS + EVENTS / 10);
      expect(tally.expected).toBe(EVENTS);
      // Lost: none. Repeated effects: none; the units whose process died inside the window above were in doubt and asked.
      expectNoLoss(tally);
      expect(await backlog.failed('handler-count-a')).toBe(0);
      expect(await backlog.failed('handler-count-b')).toBe(0);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 900_000 : 180_000,
  );
});
