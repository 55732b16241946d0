/*
 * Graceful stop under load: SIGTERM to the ingress and to each worker while
 * deliveries keep coming and handlers are running (each effect takes 50 ms).
 * The ingress must finish what it acknowledged (stored in Redis before the
 * 2XX), the workers must finish or hand back their running jobs, each exits 0,
 * and every acknowledged event ends up with each handler's effect exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { acked, expectNoLoss, LONG, lossFigures, Pipeline, report, SETTLE_MS } from './support/pipeline.js';

const STEP = LONG ? 3000 : 300;
const RATE = LONG ? 300 : 150;

describe('SIGTERM to the ingress and the workers under load', () => {
  const run = new Pipeline('chaos-g');
  const backlog = run.backlog();
  afterAll(() => run.close());

  it(
    'loses nothing acknowledged and duplicates nothing',
    async () => {
      const { stack, load } = await run.start({ label: 'g', workers: 2, workerEnv: { CHAOS_WORK_MS: '50' } });
      const sending = load.run({ ratePerSec: RATE, concurrency: 16 });
      const ackedAtLeast = (n: number) => acked(load, n, 120_000);
      const exitCodes: Record<string, number | null> = {};

      // 1. The ingress, mid-stream; requests in flight finish, new connections are refused until it is back.
      await ackedAtLeast(STEP);
      exitCodes['ingress'] = await stack.stopApp(stack.ingress!);
      await stack.startIngress();

      // 2. Each worker in turn, with handler jobs running; a replacement starts after each.
      let aborted = 0;
      for (const name of ['worker-1', 'worker-2']) {
        await ackedAtLeast(load.acked.size + STEP);
        await backlog.busy();
        const victim = stack.workers[0]!;
        exitCodes[name] = await stack.stopApp(victim);
        aborted += victim.lines.filter((l) => l.message === 'aborted by shutdown: back to the queue, no attempt spent').length;
        await stack.startWorker();
      }
      await ackedAtLeast(load.acked.size + STEP);
      load.stop();
      await sending;
      await load.resendRefused(30_000);

      const tally = await run.effects.settle(load.acked, SETTLE_MS);
      const drained = await backlog.drained();
      report('graceful-stop', {
        acknowledged: load.acked.size,
        statuses: load.statusSummary(),
        exitCodes,
        handlerRunsHandedBack: aborted,
        ...lossFigures(tally),
      });

      expect(exitCodes).toEqual({ ingress: 0, 'worker-1': 0, 'worker-2': 0 });
      expect(drained).toBe(true);
      expectNoLoss(tally);
      expect(await backlog.failed('handler-count-a')).toBe(0);
      expect(await backlog.failed('handler-count-b')).toBe(0);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 600_000 : 120_000,
  );
});
