/*
 * Ingress crashes: the ingress process is killed with SIGKILL mid-stream and
 * restarted on its port, twice. It answers 2XX only once Redis holds the
 * delivery, so whatever it acknowledged before dying must still be processed;
 * what it never answered is what Voucherify retries (re-sent here).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, expectNoLoss, LONG, lossFigures, Pipeline, report, SETTLE_MS } from './support/pipeline.js';

const EVENTS = LONG ? 10_000 : 1200;
const RATE = LONG ? 400 : 200;
const KILLS = LONG ? 6 : 2;

describe('the ingress killed with -9 mid-stream', () => {
  const run = new Pipeline('chaos-i');
  const backlog = run.backlog();
  afterAll(() => run.close());

  it(
    `loses no acknowledged event (${EVENTS} events, ${KILLS} kills)`,
    async () => {
      const { stack, load } = await run.start({ label: 'i' });
      const sending = load.run({ count: EVENTS, ratePerSec: RATE, concurrency: 16 });
      for (let k = 1; k <= KILLS; k++) {
        const threshold = Math.floor((EVENTS * k) / (KILLS + 1));
        // Counted in answers, not acknowledgements: what the dead ingress refused is only re-sent at the end.
        await eventually(`${threshold} answered`, () => (load.sent >= threshold ? true : undefined), 120_000);
        await stack.killIngress();
        await stack.startIngress();
      }
      await sending;
      const refusedAtEnd = load.refused.size;
      await load.resendRefused(30_000);

      const tally = await run.effects.settle(load.acked, SETTLE_MS);
      const drained = await backlog.drained();
      report('ingress-crash', {
        events: EVENTS,
        kills: KILLS,
        acknowledged: load.acked.size,
        refusedWhileDown: refusedAtEnd,
        statuses: load.statusSummary(),
        ...lossFigures(tally),
      });

      expect(load.acked.size).toBe(EVENTS);
      expect(drained).toBe(true);
      expectNoLoss(tally);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 600_000 : 120_000,
  );
});
