import type { Job, Queue } from 'bullmq';
import type { RedisClient } from '@vouchflow/core';
import { delayedUntil, type HandlerJobData } from '@vouchflow/pipeline';

/** Why a unit waits and when it runs next, as `events show` prints it. */
export interface Waiting {
  reason: string;
  /** Epoch ms; null while it waits for an operator (a paused handler). */
  nextRunAt: number | null;
}

/**
 * Why a waiting or delayed unit waits. A delayed unit: the reason the worker
 * kept as it delayed it (`waitReason`: a RetryLaterError's message, a held
 * claim, an inline first try's failure, an open circuit), else the failure
 * BullMQ retries it after; it runs when its delay ends. A waiting unit: its
 * handler is paused, or rate limited, or it runs as soon as a worker is free.
 */
export async function whyWaiting(
  ctx: { connection: RedisClient; queuePrefix: string; queue: Queue<HandlerJobData>; handler: string; now: number },
  job: Job<HandlerJobData>,
  state: 'waiting' | 'delayed',
): Promise<Waiting> {
  const { queue, handler, now } = ctx;
  const paused = await queue.isPaused();
  const resume = `handler paused: runs after \`pnpm ops resume ${handler}\``;
  if (state === 'delayed') {
    const at = (await delayedUntil(ctx.connection, ctx.queuePrefix, queue.name, job.id ?? '')) ?? null;
    const why = job.data.waitReason ?? (job.failedReason ? `retry after failure: ${job.failedReason}` : 'delayed');
    return { reason: paused ? `${why}; then ${resume}` : why, nextRunAt: at };
  }
  if (paused) return { reason: resume, nextRunAt: null };
  const limitedForMs = await queue.getRateLimitTtl();
  if (limitedForMs > 0) return { reason: 'rate limited', nextRunAt: now + limitedForMs };
  return { reason: 'waiting for a free worker', nextRunAt: now };
}
