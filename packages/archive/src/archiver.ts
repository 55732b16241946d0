import { isRight } from 'fp-ts/lib/Either.js';
import { HOUR, SECOND, coerceError, type Logger, type RedisClient } from '@vouchflow/core';
import { JOURNAL_FIELD, journalKey } from './journal.js';
import { JournalEntry, type ArchivedDelivery, type ArchivedOutcome } from './records.js';
import type { ArchiveStore } from './store.js';

/*
 * Drains the journal into PostgreSQL. Every worker process runs one archiver;
 * they share the stream through one consumer group, so each entry is written
 * by one of them. An entry is acknowledged and deleted from Redis only after
 * the transaction holding it committed. A process that dies with entries
 * claimed leaves them pending, and a live archiver takes them over after
 * `claimIdleMs` (XAUTOCLAIM). Writes are idempotent, so an entry written twice
 * (committed, then the process died before XACK) changes nothing.
 */

export const ARCHIVER_GROUP = 'archivers';

export interface ArchiverOptions {
  /** A connection of its own: XREADGROUP blocks it. */
  redis: RedisClient;
  queuePrefix: string;
  store: ArchiveStore;
  logger: Logger;
  /** Unique per process. */
  consumer: string;
  batchSize?: number;
  /** How long one XREADGROUP waits for entries. */
  blockMs?: number;
  /** First wait after a failed write; doubles up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Entries claimed by a consumer idle this long are taken over. */
  claimIdleMs?: number;
  /** Retention of the archive; `prune` runs every `pruneEveryMs`. */
  retentionMs: number;
  pruneEveryMs?: number;
  /** Told after each committed batch. */
  onArchived?: (counts: { deliveries: number; outcomes: number }) => void;
  /** Told after each failed round (PostgreSQL or Redis trouble); the entries stay and are retried. */
  onWriteFailed?: (err: Error) => void;
}

export interface Archiver {
  /** Resolves once the loop has stopped; it writes what it has claimed first. */
  stop(): Promise<void>;
}

type StreamEntries = [id: string, fields: string[]][];

export function startArchiver(options: ArchiverOptions): Archiver {
  const {
    redis,
    queuePrefix,
    store,
    logger,
    consumer,
    batchSize = 500,
    blockMs = SECOND,
    retryDelayMs = SECOND,
    maxRetryDelayMs = 30 * SECOND,
    claimIdleMs = 60 * SECOND,
    retentionMs,
    pruneEveryMs = HOUR,
    onArchived,
    onWriteFailed,
  } = options;
  const key = journalKey(queuePrefix);
  let stopping = false;
  let wake: (() => void) | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  async function ensureGroup(): Promise<void> {
    try {
      await redis.xgroup('CREATE', key, ARCHIVER_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  /** Our own pending entries first (a failed batch), then ones idle elsewhere, then new ones. */
  async function claim(retrying: boolean): Promise<StreamEntries> {
    if (retrying) {
      const own = (await redis.xreadgroup('GROUP', ARCHIVER_GROUP, consumer, 'COUNT', batchSize, 'STREAMS', key, '0')) as
        [string, StreamEntries][] | null;
      const entries = own?.[0]?.[1] ?? [];
      if (entries.length > 0) return entries;
    }
    const [, taken] = (await redis.xautoclaim(key, ARCHIVER_GROUP, consumer, claimIdleMs, '0', 'COUNT', batchSize)) as [
      string,
      StreamEntries,
    ];
    if (taken.length > 0) return taken;
    const fresh = (await redis.xreadgroup('GROUP', ARCHIVER_GROUP, consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', key, '>')) as
      [string, StreamEntries][] | null;
    return fresh?.[0]?.[1] ?? [];
  }

  async function writeBatch(entries: StreamEntries): Promise<void> {
    const deliveries: ArchivedDelivery[] = [];
    const outcomes: ArchivedOutcome[] = [];
    for (const [id, fields] of entries) {
      const raw = fields[fields.indexOf(JOURNAL_FIELD) + 1];
      let decoded: unknown;
      try {
        decoded = raw === undefined ? undefined : JSON.parse(raw);
      } catch {
        decoded = undefined;
      }
      const entry = JournalEntry.decode(decoded);
      if (!isRight(entry)) {
        // Not ours to fix here, and retrying cannot help: say so and move on.
        logger.error('archive journal entry unreadable; dropped', { entryId: id });
        continue;
      }
      if (entry.right.kind === 'delivery') deliveries.push(entry.right.delivery);
      else outcomes.push(entry.right.outcome);
    }
    await store.write({ deliveries, outcomes });
    const ids = entries.map(([id]) => id);
    await redis
      .multi()
      .xack(key, ARCHIVER_GROUP, ...ids)
      .xdel(key, ...ids)
      .exec();
    onArchived?.({ deliveries: deliveries.length, outcomes: outcomes.length });
  }

  async function loop(): Promise<void> {
    let delay = retryDelayMs;
    let retrying = false;
    let lastPrune = 0;
    let groupReady = false;
    while (!stopping) {
      try {
        if (!groupReady) {
          await ensureGroup();
          groupReady = true;
        }
        if (Date.now() - lastPrune >= pruneEveryMs) {
          lastPrune = Date.now();
          const dropped = await store.prune(retentionMs);
          if (dropped > 0) logger.info('archive days past retention dropped', { partitions: dropped });
        }
        const entries = await claim(retrying);
        if (entries.length > 0) await writeBatch(entries);
        if (retrying) logger.info('archive writes resumed');
        retrying = false;
        delay = retryDelayMs;
      } catch (err) {
        if (stopping) break;
        onWriteFailed?.(coerceError(err));
        if (!retrying) logger.warn('archive write failed; will retry, processing goes on', { error: coerceError(err).message });
        retrying = true;
        if (String((err as Error).message).includes('NOGROUP')) groupReady = false;
        await pause(delay);
        delay = Math.min(delay * 2, maxRetryDelayMs);
      }
    }
  }

  const running = loop();
  return {
    async stop() {
      stopping = true;
      wake?.();
      await running;
    },
  };
}
