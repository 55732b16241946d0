import { Cluster } from 'ioredis';
import { HOUR, SECOND } from './durations.js';
import { coerceError } from './coerce-error.js';
import { projectKey } from './keys.js';
import type { Logger } from './logger.js';
import type { RedisClient } from './redis.js';

/*
 * How full Redis is, for `/metrics`, `pnpm ops stats` and `/readyz`. Redis is
 * memory and, with `noeviction` (right for a queue), a full Redis refuses
 * writes: the ingress then answers 503. So readiness says "degraded" well
 * before that (above DEGRADED_RATIO of maxmemory) and "unavailable" only once
 * a write is actually refused.
 */

/** Above this share of maxmemory, readiness reports degraded (still 200). */
export const DEGRADED_RATIO = 0.8;

export interface RedisMemory {
  /** `used_memory`, summed over a cluster's masters. */
  usedMemory: number;
  /** `maxmemory`, summed over a cluster's masters; 0 is unlimited (any master unlimited makes it 0). */
  maxmemory: number;
  /** The fullest node's used/maxmemory; 0 when unlimited. */
  ratio: number;
}

const infoField = (info: string, field: string): number => {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : 0;
};

/** Reads INFO memory (every master of a cluster). Rejects when Redis does not answer. */
export async function readRedisMemory(redis: RedisClient): Promise<RedisMemory> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const infos = await Promise.all(nodes.map((n) => n.info('memory')));
  let usedMemory = 0;
  let maxmemory = 0;
  let unlimited = infos.length === 0;
  let ratio = 0;
  for (const info of infos) {
    const used = infoField(info, 'used_memory');
    const max = infoField(info, 'maxmemory');
    usedMemory += used;
    maxmemory += max;
    if (max === 0) unlimited = true;
    else ratio = Math.max(ratio, used / max);
  }
  return unlimited ? { usedMemory, maxmemory: 0, ratio: 0 } : { usedMemory, maxmemory, ratio };
}

/** What `/readyz` says beyond "ready": still serving, but an operator should look. */
export interface RedisReadiness {
  status: 'ready' | 'degraded';
  /** Why it is degraded; empty when ready. */
  warnings: string[];
  memory: RedisMemory;
}

/** Redis answers but refuses writes (out of memory under `noeviction`, or a read-only replica). */
export class RedisRefusesWritesError extends Error {
  override readonly name = 'RedisRefusesWritesError';
  constructor(reason: string, options?: ErrorOptions) {
    super(`redis refuses writes: ${reason}`, options);
  }
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The Redis half of readiness. `check()` rejects when Redis is unreachable or
 * refuses writes (so `/readyz` answers 503 only where writes would fail), and
 * resolves `degraded` above {@link DEGRADED_RATIO} of maxmemory, logging a
 * warning once each time it crosses the line. Only while degraded does it
 * prove writes with a tiny expiring key: below the line they cannot fail for
 * memory.
 */
export function redisReadiness(redis: RedisClient, queuePrefix: string, logger: Logger): { check(): Promise<RedisReadiness> } {
  const probeKey = projectKey(queuePrefix, 'readyz', 'probe');
  let warned = false;
  return {
    async check() {
      const memory = await readRedisMemory(redis);
      if (memory.ratio <= DEGRADED_RATIO) {
        if (warned) logger.info('redis memory back under the warning line', { usedMemory: memory.usedMemory, maxmemory: memory.maxmemory });
        warned = false;
        return { status: 'ready', warnings: [], memory };
      }
      try {
        await redis.set(probeKey, '1', 'PX', 10 * SECOND);
      } catch (err) {
        const message = coerceError(err).message;
        if (/^(OOM|READONLY|MISCONF)/.test(message)) throw new RedisRefusesWritesError(message.split(' ')[0]!, { cause: err });
        throw err;
      }
      const warning = `redis memory at ${Math.round(memory.ratio * 100)}% of maxmemory (${mib(memory.usedMemory)} of ${mib(memory.maxmemory)})`;
      if (!warned) {
        logger.warn('redis memory above 80% of maxmemory: writes fail once it is full (shorten retention windows or add memory)', {
          usedMemory: memory.usedMemory,
          maxmemory: memory.maxmemory,
        });
      }
      warned = true;
      return { status: 'degraded', warnings: [warning], memory };
    },
  };
}

/*
 * Bytes per event: how much Redis memory each processed delivery costs, over
 * the last hour. Every worker process adds what it processed since its last
 * sample to one shared counter and records (time, used_memory, counter) in a
 * sorted set scored by time, trimmed to the window; so any process (the
 * worker's /metrics, `pnpm ops stats`) reads the same figure, whatever the
 * number of workers.
 */

/** How far back bytes per event looks. */
export const MEMORY_WINDOW_MS = HOUR;

export interface MemorySample {
  /** Epoch milliseconds. */
  at: number;
  usedMemory: number;
  /** Deliveries processed by every worker so far. */
  processed: number;
}

const samplesKey = (queuePrefix: string): string => projectKey(queuePrefix, 'stats', 'memory');
const processedKey = (queuePrefix: string): string => projectKey(queuePrefix, 'stats', 'processed');

/** Adds `processedSinceLast` to the shared count and records a sample. */
export async function recordMemorySample(
  redis: RedisClient,
  queuePrefix: string,
  processedSinceLast: number,
  now = Date.now(),
): Promise<void> {
  const [{ usedMemory }, processed] = await Promise.all([
    readRedisMemory(redis),
    redis.incrby(processedKey(queuePrefix), processedSinceLast),
  ]);
  const sample: MemorySample = { at: now, usedMemory, processed };
  await redis
    .multi()
    .zadd(samplesKey(queuePrefix), now, JSON.stringify(sample))
    .zremrangebyscore(samplesKey(queuePrefix), '-inf', now - MEMORY_WINDOW_MS - 1)
    .exec();
}

/** The samples of the last hour, oldest first. */
export async function memorySamples(redis: RedisClient, queuePrefix: string, now = Date.now()): Promise<MemorySample[]> {
  const raw = await redis.zrangebyscore(samplesKey(queuePrefix), now - MEMORY_WINDOW_MS, '+inf');
  return raw.map((r) => JSON.parse(r) as MemorySample);
}

/**
 * Used memory gained per delivery processed between the oldest and newest
 * sample of the window; undefined until deliveries were processed between two
 * samples. Negative when Redis shed more (expired retention) than it took in.
 */
export function bytesPerEvent(samples: readonly MemorySample[]): number | undefined {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last) return undefined;
  const events = last.processed - first.processed;
  if (events <= 0) return undefined;
  return Math.round((last.usedMemory - first.usedMemory) / events);
}

/** What `pnpm ops stats` shows about Redis. */
export interface RedisMemoryReport {
  usedMemory: number;
  /** 0: unlimited. */
  maxmemory: number;
  /** Over the last hour; null until a worker has sampled deliveries. */
  bytesPerEvent: number | null;
}

export async function redisMemoryReport(redis: RedisClient, queuePrefix: string): Promise<RedisMemoryReport> {
  const [memory, samples] = await Promise.all([readRedisMemory(redis), memorySamples(redis, queuePrefix)]);
  return { usedMemory: memory.usedMemory, maxmemory: memory.maxmemory, bytesPerEvent: bytesPerEvent(samples) ?? null };
}
