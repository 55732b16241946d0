import { projectKey, type RedisClient } from '@vouchflow/core';
import type { ArchivedDelivery, ArchivedOutcome, JournalEntry } from './records.js';

/*
 * The worker never talks to PostgreSQL on its acknowledgement path. It appends
 * what is to be archived to a Redis stream (one XADD, pipelined with whatever
 * else it sends) and the archiver drains that stream into PostgreSQL in
 * batches. So a slow or absent archive delays archiving, never processing, and
 * what is not yet archived survives a worker crash: it is in Redis, with the
 * rest of the in-flight state, until PostgreSQL has committed it.
 */

export const journalKey = (queuePrefix: string): string => projectKey(queuePrefix, 'archive', 'journal');

/** The stream field holding one entry's JSON. */
export const JOURNAL_FIELD = 'e';

export interface ArchiveJournal {
  delivery(delivery: ArchivedDelivery): Promise<void>;
  outcome(outcome: ArchivedOutcome): Promise<void>;
  /** Entries waiting to be archived. */
  backlog(): Promise<number>;
}

export function createArchiveJournal(redis: RedisClient, queuePrefix: string): ArchiveJournal {
  const key = journalKey(queuePrefix);
  const append = async (entry: JournalEntry): Promise<void> => {
    await redis.xadd(key, '*', JOURNAL_FIELD, JSON.stringify(entry));
  };
  return {
    delivery: (delivery) => append({ kind: 'delivery', delivery }),
    outcome: (outcome) => append({ kind: 'outcome', outcome }),
    backlog: () => redis.xlen(key),
  };
}
