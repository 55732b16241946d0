import { SECOND, projectKey, type RedisClient } from '@vouchflow/core';
import type { ArchivedDelivery, ArchivedOutcome, JournalEntry } from './records.js';

/*
 * The worker never talks to PostgreSQL on its acknowledgement path. It appends
 * what is to be archived to a Redis stream and the archiver drains that stream
 * into PostgreSQL in batches. So a slow or absent archive delays archiving,
 * never processing, and what is not yet archived survives a worker crash: it
 * is in Redis, with the rest of the in-flight state, until PostgreSQL has
 * committed it.
 *
 * Appends made in one event-loop turn go out as one pipeline (one round trip
 * however many units settled together), which also reads the stream's length.
 *
 * Bound: while PostgreSQL is away the stream grows by every delivery and
 * outcome. Past `maxBacklog` entries the journal stops appending (and counts
 * what it drops) rather than trimming: trimming would delete the oldest entries,
 * which may be claimed by an archiver, and a full Redis costs more than a gap
 * in the archive (the ingress answers 503 when Redis refuses writes). It looks
 * again at most once a second and appends again once the archiver has caught up
 * below the bound.
 */

export const journalKey = (queuePrefix: string): string => projectKey(queuePrefix, 'archive', 'journal');

/** The stream field holding one entry's JSON. */
export const JOURNAL_FIELD = 'e';

export interface ArchiveJournal {
  /** Resolves once the entry is in Redis (or dropped past the bound); never rejects. */
  delivery(delivery: ArchivedDelivery): Promise<void>;
  outcome(outcome: ArchivedOutcome): Promise<void>;
  /** Entries waiting to be archived. */
  backlog(): Promise<number>;
  /** Sends what is buffered; later appends are dropped. */
  close(): Promise<void>;
}

export interface ArchiveJournalOptions {
  /** Past this many entries waiting, new ones are dropped. @defaultValue 1,000,000 */
  maxBacklog?: number;
  /** An append failed (Redis trouble): that entry is lost to the archive. */
  onFailed?: (err: Error, entries: number) => void;
  /** Entries dropped because the backlog is over its bound; `first` is true when dropping starts. */
  onDropped?: (entries: number, first: boolean) => void;
  /** The backlog fell back under its bound. */
  onResumed?: () => void;
}

export function createArchiveJournal(redis: RedisClient, queuePrefix: string, options: ArchiveJournalOptions = {}): ArchiveJournal {
  const key = journalKey(queuePrefix);
  const maxBacklog = options.maxBacklog ?? 1_000_000;
  let buffered: Array<{ entry: string; done: () => void }> = [];
  let scheduled = false;
  let closed = false;
  let full = false;
  let lastLook = 0;
  let dropped = 0;
  const inFlight = new Set<Promise<void>>();

  const noteLength = (length: number) => {
    const wasFull = full;
    full = length >= maxBacklog;
    if (wasFull && !full) {
      dropped = 0;
      options.onResumed?.();
    }
  };

  const flush = async (): Promise<void> => {
    scheduled = false;
    const batch = buffered;
    buffered = [];
    if (batch.length === 0) return;
    const pipeline = redis.pipeline();
    for (const { entry } of batch) pipeline.xadd(key, '*', JOURNAL_FIELD, entry);
    pipeline.xlen(key);
    try {
      const results = await pipeline.exec();
      const failure = results?.find(([err]) => err)?.[0];
      if (failure) options.onFailed?.(failure, batch.length);
      const length = results?.[results.length - 1]?.[1];
      if (typeof length === 'number') noteLength(length);
    } catch (err) {
      options.onFailed?.(err instanceof Error ? err : new Error(String(err)), batch.length);
    } finally {
      for (const { done } of batch) done();
    }
  };

  const lookAgain = () => {
    if (Date.now() - lastLook < SECOND) return;
    lastLook = Date.now();
    redis.xlen(key).then(noteLength, () => {});
  };

  const append = (entry: JournalEntry): Promise<void> => {
    if (closed) return Promise.resolve();
    if (full) {
      options.onDropped?.(1, dropped++ === 0);
      lookAgain();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      buffered.push({ entry: JSON.stringify(entry), done: resolve });
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        const sent = flush();
        inFlight.add(sent);
        void sent.finally(() => inFlight.delete(sent));
      });
    });
  };

  return {
    delivery: (delivery) => append({ kind: 'delivery', delivery }),
    outcome: (outcome) => append({ kind: 'outcome', outcome }),
    backlog: () => redis.xlen(key),
    async close() {
      closed = true;
      await flush();
      await Promise.all(inFlight);
    },
  };
}
