import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import {
  ARCHIVER_GROUP,
  createArchiveJournal,
  createArchiveStore,
  journalKey,
  pendingArchiveMigrations,
  startArchiver,
  type ArchiveJournal,
} from '@vouchflow/archive';
import { closeRedis, coerceError, SECOND, type Logger, type RedisClient } from '@vouchflow/core';
import { ArchiveSchemaMissingError } from './errors/archive-schema-missing-error.js';
import { registerArchiveMetrics } from './metrics.js';

export interface WorkerArchiveOptions {
  /** ARCHIVE_URL */
  url: string;
  retentionMs: number;
  maxBacklog: number;
  queuePrefix: string;
  /** The worker's shared connection: journal appends go through it, pipelined with nothing else. */
  redis: RedisClient;
  /** Opens the archiver's own connection (XREADGROUP blocks it). */
  openRedis: () => RedisClient;
  logger: Logger;
}

export interface WorkerArchive {
  readonly journal: ArchiveJournal;
  /** The archive's metrics, to merge into the worker's. */
  readonly registry: Registry;
  /**
   * Checks the schema and starts the archiver. Rejects with {@link ArchiveSchemaMissingError}
   * when PostgreSQL answers without the archive's tables; an unreachable PostgreSQL only
   * delays archiving (the archiver retries), so the worker starts anyway.
   */
  start(): Promise<void>;
  /** Stops the archiver (it writes what it claimed first), flushes the journal, closes connections. After the workers closed. */
  close(): Promise<void>;
}

/** How long the start-up schema check may wait for PostgreSQL before the worker starts without knowing. */
const SCHEMA_CHECK_MS = 10 * SECOND;

/*
 * The worker's half of the optional archive: it appends each delivery and
 * final outcome to the journal (a Redis stream) and runs an archiver that
 * drains it into PostgreSQL. The worker does not migrate: schema changes are
 * an operator's act (`pnpm ops archive migrate`), made once, not raced by every
 * worker process at start-up.
 */
export function openWorkerArchive(options: WorkerArchiveOptions): WorkerArchive {
  const { url, queuePrefix, redis, logger } = options;
  const log = logger.child({ component: 'archive' });
  const registry = new Registry();
  const key = journalKey(queuePrefix);
  const metrics = registerArchiveMetrics(registry, async () => {
    const [entries, pending] = await Promise.all([
      redis.xlen(key),
      // NOGROUP before the first archiver started: nothing claimed.
      (redis.xpending(key, ARCHIVER_GROUP) as Promise<[number, ...unknown[]]>).then(
        ([count]) => count,
        () => 0,
      ),
    ]);
    return { entries, claimed: pending };
  });
  const journal = createArchiveJournal(redis, queuePrefix, {
    maxBacklog: options.maxBacklog,
    onFailed: (err, entries) => {
      metrics.journalFailures.inc(entries);
      log.warn('archive journal append failed: these entries will be missing from the archive', { entries, error: err.message });
    },
    onDropped: (entries, first) => {
      metrics.dropped.inc(entries);
      if (first)
        log.error('archive backlog over ARCHIVE_MAX_BACKLOG: new deliveries are not archived until PostgreSQL catches up', {
          maxBacklog: options.maxBacklog,
        });
    },
    onResumed: () => log.info('archive backlog under ARCHIVE_MAX_BACKLOG again: archiving resumed'),
  });
  const store = createArchiveStore(url, queuePrefix);
  let archiverRedis: RedisClient | undefined;
  let archiver: ReturnType<typeof startArchiver> | undefined;

  return {
    journal,
    registry,
    async start() {
      let pending: string[] | undefined;
      try {
        pending = await Promise.race([
          pendingArchiveMigrations(url),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`no answer within ${SCHEMA_CHECK_MS} ms`)), SCHEMA_CHECK_MS).unref(),
          ),
        ]);
      } catch (err) {
        log.warn('archive unreachable at start: processing goes on, archiving waits for it', { error: coerceError(err).message });
      }
      if (pending && pending.length > 0) throw new ArchiveSchemaMissingError(pending);
      archiverRedis = options.openRedis();
      archiverRedis.on('error', (err: Error) => log.debug('archiver redis connection error', { error: err.message }));
      archiver = startArchiver({
        redis: archiverRedis,
        queuePrefix,
        store,
        logger: log,
        consumer: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
        retentionMs: options.retentionMs,
        onArchived: ({ deliveries, outcomes }) => {
          if (deliveries > 0) metrics.archived.inc({ kind: 'delivery' }, deliveries);
          if (outcomes > 0) metrics.archived.inc({ kind: 'outcome' }, outcomes);
        },
        onWriteFailed: () => metrics.writeFailures.inc(),
      });
    },
    async close() {
      // The journal first: appends of the last units reach Redis, where the next archiver finds them.
      await journal.close();
      await archiver?.stop();
      await store.close();
      if (archiverRedis) await closeRedis(archiverRedis);
    },
  };
}
