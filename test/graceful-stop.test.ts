/*
 * Graceful stop under load: SIGTERM to the ingress and to each worker while
 * deliveries keep coming and handlers are running (each effect takes 50 ms).
 * The ingress must finish what it acknowledged (stored in Redis before the
 * 2XX), the workers must finish or hand back their running jobs, each exits 0,
 * and every acknowledged event ends up with each handler's effect exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { Backlog, Effects, eventually, HttpClient, LONG, Load, report, SETTLE_MS, Stack } from './support/pipeline.js';

const STEP = LONG ? 3000 : 300;
const RATE = LONG ? 300 : 150;

describe('SIGTERM to the ingress and the workers under load', () => {
  const url = testRedisUrl();
  const queuePrefix = uniquePrefix('chaos-g');
  const effectsRedis = new Redis(url, { maxRetriesPerRequest: null });
  const effects = new Effects(effectsRedis, `chaos:${queuePrefix}`);
  const stack = new Stack({ redisUrl: url, queuePrefix, effectsUrl: url, effectsKey: effects.key, workerEnv: { CHAOS_WORK_MS: '50' } });
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
    'loses nothing acknowledged and duplicates nothing',
    async () => {
      await stack.startIngress();
      await Promise.all([stack.startWorker(), stack.startWorker()]);
      client = new HttpClient(stack.base);
      load = new Load(client, `${queuePrefix}_g`);
      const sending = load.run({ ratePerSec: RATE, concurrency: 16 });
      const acked = (n: number) => eventually(`${n} acknowledged`, () => (load!.acked.size >= n ? true : undefined), 120_000);
      const exitCodes: Record<string, number | null> = {};

      // 1. The ingress, mid-stream; requests in flight finish, new connections are refused until it is back.
      await acked(STEP);
      exitCodes['ingress'] = await stack.stopApp(stack.ingress!);
      await stack.startIngress();

      // 2. Each worker in turn, with handler jobs running; a replacement starts after each.
      let aborted = 0;
      for (const name of ['worker-1', 'worker-2']) {
        await acked(load.acked.size + STEP);
        await eventually('jobs running', async () => ((await backlog.active()) > 0 ? true : undefined), 30_000, 20);
        const victim = stack.workers[0]!;
        exitCodes[name] = await stack.stopApp(victim);
        aborted += victim.lines.filter((l) => l.message === 'aborted by shutdown: back to the queue, no attempt spent').length;
        await stack.startWorker();
      }
      await acked(load.acked.size + STEP);
      load.stop();
      await sending;
      await load.resendRefused(30_000);

      const tally = await effects.settle(load.acked, SETTLE_MS);
      const drained = await eventually('queues drained', async () => ((await backlog.total()) === 0 ? true : undefined), 30_000);
      report('graceful-stop', {
        acknowledged: load.acked.size,
        statuses: load.statusSummary(),
        exitCodes,
        handlerRunsHandedBack: aborted,
        lost: tally.lost,
        duplicates: tally.duplicates,
      });

      expect(exitCodes).toEqual({ ingress: 0, 'worker-1': 0, 'worker-2': 0 });
      expect(drained).toBe(true);
      expect(tally.lostExamples).toEqual([]);
      expect(tally.lost).toBe(0);
      expect(tally.duplicates).toBe(0);
      expect(await backlog.failed('handler-count-a')).toBe(0);
      expect(await backlog.failed('handler-count-b')).toBe(0);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 600_000 : 120_000,
  );
});
