/*
 * Ingress crashes: the ingress process is killed with SIGKILL mid-stream and
 * restarted on its port, twice. It answers 2XX only once Redis holds the
 * delivery, so whatever it acknowledged before dying must still be processed;
 * what it never answered is what Voucherify retries (re-sent here).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { Backlog, Effects, eventually, HttpClient, LONG, Load, report, SETTLE_MS, Stack } from './support/pipeline.js';

const EVENTS = LONG ? 10_000 : 1200;
const RATE = LONG ? 400 : 200;
const KILLS = LONG ? 6 : 2;

describe('the ingress killed with -9 mid-stream', () => {
  const url = testRedisUrl();
  const queuePrefix = uniquePrefix('chaos-i');
  const effectsRedis = new Redis(url, { maxRetriesPerRequest: null });
  const effects = new Effects(effectsRedis, `chaos:${queuePrefix}`);
  const stack = new Stack({ redisUrl: url, queuePrefix, effectsUrl: url, effectsKey: effects.key });
  const backlogRedis = new Redis(url, { maxRetriesPerRequest: null });
  const backlog = new Backlog(backlogRedis, queuePrefix);
  let client: HttpClient | undefined;
  let load: Load | undefined;

  afterAll(async () => {
    load?.stop();
    client?.close();
    await stack.close();
    await backlog.close();
    await effects.cleanup();
    await deletePrefix(url, queuePrefix);
    await Promise.all([effectsRedis.quit(), backlogRedis.quit()]);
  });

  it(
    `loses no acknowledged event (${EVENTS} events, ${KILLS} kills)`,
    async () => {
      await stack.startIngress();
      await stack.startWorker();
      client = new HttpClient(stack.base);
      load = new Load(client, `${queuePrefix}_i`);
      const sending = load.run({ count: EVENTS, ratePerSec: RATE, concurrency: 16 });
      for (let k = 1; k <= KILLS; k++) {
        const threshold = Math.floor((EVENTS * k) / (KILLS + 1));
        // Counted in answers, not acknowledgements: what the dead ingress refused is only re-sent at the end.
        await eventually(`${threshold} answered`, () => (load!.sent >= threshold ? true : undefined), 120_000);
        await stack.killIngress();
        await stack.startIngress();
      }
      await sending;
      const refusedAtEnd = load.refused.size;
      await load.resendRefused(30_000);

      const tally = await effects.settle(load.acked, SETTLE_MS);
      const drained = await eventually('queues drained', async () => ((await backlog.total()) === 0 ? true : undefined), 30_000);
      report('ingress-crash', {
        events: EVENTS,
        kills: KILLS,
        acknowledged: load.acked.size,
        refusedWhileDown: refusedAtEnd,
        statuses: load.statusSummary(),
        lost: tally.lost,
        duplicates: tally.duplicates,
      });

      expect(load.acked.size).toBe(EVENTS);
      expect(drained).toBe(true);
      expect(tally.lostExamples).toEqual([]);
      expect(tally.lost).toBe(0);
      expect(tally.duplicates).toBe(0);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 600_000 : 120_000,
  );
});
