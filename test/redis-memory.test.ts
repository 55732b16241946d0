/*
 * Redis memory as operators see it: the worker's /metrics and `pnpm ops stats`
 * report used memory, maxmemory and bytes per processed event; /readyz of the
 * ingress and the worker says degraded (200, with one warning log) above 80%
 * of maxmemory, and unavailable (503) only once Redis refuses writes.
 * A private redis-server, so its maxmemory can be changed and filled.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { freePort, runOps, scrapeMetric as scrape } from '@vouchflow/test-support';
import { eventually, Pipeline } from './support/pipeline.js';

async function readyz(base: string): Promise<{ status: number; body: { status: string; warnings?: string[]; problems?: string[] } }> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; warnings?: string[]; problems?: string[] } };
}

const usedMemory = async (redis: Redis): Promise<number> => Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);

describe('Redis memory: reported, and readiness degraded before it is full', () => {
  const pipeline = new Pipeline('redis-memory');
  afterAll(async () => {
    await pipeline.close();
  });

  it('reports used memory, maxmemory and bytes per event; degraded above 80% of maxmemory; 503 once writes are refused', async () => {
    const server = await pipeline.startRedisServer();
    const metricsPort = await freePort();
    const { load, stack } = await pipeline.start({
      label: 'm',
      redisUrl: server.url,
      workerEnv: { METRICS_PORT: String(metricsPort), REDIS_MEMORY_SAMPLE_MS: '200' },
    });
    const workerBase = `http://127.0.0.1:${metricsPort}`;
    await load.run({ count: 40, concurrency: 4 });
    expect((await pipeline.effects.settle(load.acked, 30_000)).lost).toBe(0);

    const perEvent = await eventually(
      'bytes per event on /metrics',
      async () => {
        const v = await scrape(metricsPort, 'vouchflow_redis_bytes_per_event');
        return v !== undefined && Number.isFinite(v) ? v : undefined;
      },
      30_000,
      200,
    );
    expect(Number.isInteger(perEvent)).toBe(true);
    expect(await scrape(metricsPort, 'vouchflow_redis_used_memory_bytes')).toBeGreaterThan(0);
    expect(await scrape(metricsPort, 'vouchflow_redis_maxmemory_bytes')).toBe(0);

    const env = { REDIS_URL: server.url, QUEUE_PREFIX: pipeline.queuePrefix };
    const stats = await runOps(['stats', '--json'], env);
    expect(stats.code, stats.stderr).toBe(0);
    const { redis: report } = JSON.parse(stats.stdout) as {
      redis: { usedMemory: number; maxmemory: number; bytesPerEvent: number | null };
    };
    expect(report.usedMemory).toBeGreaterThan(0);
    expect(report.maxmemory).toBe(0);
    expect(typeof report.bytesPerEvent).toBe('number');
    const table = await runOps(['stats'], env);
    expect(table.stdout).toMatch(/Redis: [\d.]+ MiB used no maxmemory \(unlimited\), -?\d+ B per event over the last hour/);

    // Unlimited: never degraded.
    expect(await readyz(stack.base)).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await readyz(workerBase)).toEqual({ status: 200, body: { status: 'ready' } });

    // Over 80% of a small maxmemory (noeviction, the default): degraded, still 200, one warning each.
    const admin = pipeline.connect(server.url);
    const base = await usedMemory(admin);
    const maxmemory = base + 8 * 1024 * 1024;
    await admin.config('SET', 'maxmemory', String(maxmemory));
    // In small pieces: a big value passes through the query buffer, which counts as used memory too.
    for (let i = 0; (await usedMemory(admin)) < maxmemory * 0.85; i++) await admin.set(`junk:fill:${i}`, 'x'.repeat(64 * 1024));
    expect((await usedMemory(admin)) / maxmemory).toBeLessThan(0.95);
    for (const app of [stack.base, workerBase]) {
      for (let i = 0; i < 3; i++) {
        const answer = await readyz(app);
        expect(answer.status).toBe(200);
        expect(answer.body.status).toBe('degraded');
        expect(answer.body.warnings?.[0]).toMatch(/^redis memory at \d+% of maxmemory/);
      }
    }
    const isWarning = (l: { level?: string; message?: string }) =>
      l.level === 'warn' && l.message?.startsWith('redis memory above 80% of maxmemory') === true;
    expect(stack.ingress!.lines.filter(isWarning)).toHaveLength(1);
    expect(stack.workers[0]!.lines.filter(isWarning)).toHaveLength(1);
    expect(await scrape(metricsPort, 'vouchflow_redis_maxmemory_bytes')).toBe(maxmemory);

    // Full: Redis refuses writes, and only now is the answer 503.
    // Big pieces first, then small ones: a big write is refused while a small one still fits.
    for (const size of [256 * 1024, 1024]) {
      let refused = false;
      for (let i = 0; i < 20_000 && !refused; i++) {
        try {
          await admin.set(`junk:more:${size}:${i}`, 'x'.repeat(size));
        } catch (err) {
          refused = (err as Error).message.startsWith('OOM');
        }
      }
      expect(refused).toBe(true);
    }
    // At the line itself a refused write frees its buffer and the next small one may pass; a little past it, none does.
    await admin.config('SET', 'maxmemory', String((await usedMemory(admin)) - 256 * 1024));
    expect(await readyz(stack.base)).toEqual({ status: 503, body: { status: 'unavailable', problems: ['redis refuses writes'] } });
    const workerAnswer = await readyz(workerBase);
    expect(workerAnswer.status).toBe(503);
    expect(workerAnswer.body.problems?.[0]).toMatch(/^redis refuses writes: OOM/);

    // Room again: ready, and the next crossing would warn again.
    await admin.config('SET', 'maxmemory', '0');
    expect(await readyz(stack.base)).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await readyz(workerBase)).toEqual({ status: 200, body: { status: 'ready' } });
  });
});
