import type { Queue } from 'bullmq';
import { SECOND, coerceError, type Logger } from '@vouchflow/core';
import type { IntakeJobData } from '@vouchflow/pipeline';

/** The back-pressure signal the request path reads: a cached number, never a Redis call. */
export interface Backlog {
  /** True when the backlog (last reading plus deliveries accepted since) exceeds the bound. */
  overBound(): boolean;
  /** The last reading from Redis; undefined before the first. */
  reading(): number | undefined;
  /** Counts deliveries accepted since the last reading, so a burst between readings is not invisible. */
  noteAccepted(count: number): void;
}

export interface BacklogMonitor extends Backlog {
  /** Reads the backlog now (also what the timer does). Resolves even when Redis does not answer. */
  refresh(): Promise<void>;
  /** Stops reading and waits for a reading under way. */
  stop(): Promise<void>;
}

export interface BacklogOptions {
  queue: Queue<IntakeJobData>;
  /** Waiting intake jobs above which the ingress refuses deliveries. */
  maxBacklog: number;
  /** Time between readings. */
  intervalMs: number;
  logger: Logger;
  /** Told each reading (metrics). */
  onReading?: (waiting: number) => void;
}

/** Jobs that wait for an intake worker: what grows in Redis when workers fall behind. */
const WAITING_STATES = ['wait', 'prioritized', 'delayed'] as const;
const READ_TIMEOUT_MS = 2 * SECOND;

/** Reads the intake backlog every `intervalMs` in the background; the first reading starts at once. */
export function startBacklogMonitor({ queue, maxBacklog, intervalMs, logger, onReading }: BacklogOptions): BacklogMonitor {
  let last: number | undefined;
  let acceptedSince = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let wasOver = false;

  const read = async (): Promise<void> => {
    let deadline: NodeJS.Timeout | undefined;
    try {
      // Bounded: while Redis is away BullMQ may wait for it indefinitely, and stop() must not.
      const counts = await Promise.race([
        queue.getJobCounts(...WAITING_STATES),
        new Promise<never>((_resolve, reject) => {
          deadline = setTimeout(() => reject(new Error(`no answer within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
        }),
      ]);
      last = Object.values(counts).reduce((sum, n) => sum + n, 0);
      acceptedSince = 0;
      onReading?.(last);
      const over = last > maxBacklog;
      if (over !== wasOver) {
        if (over) logger.warn('intake backlog over its bound: refusing deliveries with 503', { backlog: last, maxBacklog });
        else logger.info('intake backlog back under its bound', { backlog: last, maxBacklog });
        wasOver = over;
      }
    } catch (err) {
      // Redis being away is reported by the requests that fail and by /readyz; keep the last reading.
      logger.debug('could not read the intake backlog', { error: coerceError(err).message });
    } finally {
      clearTimeout(deadline);
    }
  };

  const tick = (): void => {
    current = read().finally(() => {
      current = undefined;
      if (!stopped) {
        timer = setTimeout(tick, intervalMs);
        // The monitor alone must never keep the process alive.
        timer.unref();
      }
    });
  };
  tick();

  return {
    overBound: () => last !== undefined && last + acceptedSince > maxBacklog,
    reading: () => last,
    noteAccepted(count) {
      acceptedSince += count;
    },
    async refresh() {
      await current;
      await read();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
