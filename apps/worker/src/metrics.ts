import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'bullmq';

/** Label used for the intake's own dead letters (deliveries that do not decode). */
export const INTAKE_LABEL = '(intake)';

// Schema drift paths and unfamiliar event types come from payloads; cap how many distinct labels they can create.
const MAX_DRIFT_PATHS = 500;
const MAX_UNKNOWN_TYPES = 100;

export interface WorkerMetrics {
  readonly registry: Registry;
  deliveries: Counter<'outcome'>;
  /** Past 100 distinct types, further ones count as `(other)`: the label set stays bounded whatever senders invent. */
  unknownEvents: { inc(labels: { event_type: string }): void };
  drift(path: string): void;
  completed: Counter<'handler'>;
  skipped: Counter<'handler' | 'reason'>;
  failed: Counter<'handler'>;
  retried: Counter<'handler'>;
  retryLater: Counter<'handler'>;
  deadLettered: Counter<'handler'>;
  duration: Histogram<'handler' | 'outcome'>;
  claimsLost: Counter<'handler'>;
  overruns: Counter<'handler'>;
  unitsInDoubt: Counter<'handler' | 'resolution'>;
  recordWindow: Histogram;
  /** 0 closed, 1 open, 2 half-open (one probe runs), as this process last saw it. */
  circuitState: Gauge<'handler'>;
  /** Changes of state made by this process (`to`: open, half-open, closed); summed over processes, every change once. */
  circuitTransitions: Counter<'handler' | 'to'>;
}

/**
 * How a unit in doubt (an earlier run started and never ended) was settled:
 * its handler's `wasDone` confirmed the effect (recorded done, not run), found
 * none (run again), failed (a failed try; still in doubt), or the handler has
 * no `wasDone` (run again unchecked: the effect may repeat).
 */
export type InDoubtResolution = 'confirmed_done' | 'ran_again' | 'check_failed' | 'ran_unchecked';

/** `vouchflow_circuit_state`'s values. */
export const CIRCUIT_STATE_VALUE = { closed: 0, open: 1, 'half-open': 2 } as const;

/**
 * The worker's Prometheus metrics in a registry of its own (several workers
 * can live in one test process). Queue depths are read from Redis at scrape time.
 */
export function createWorkerMetrics(queues: () => readonly Queue[], options: { defaultMetrics?: boolean } = {}): WorkerMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'vouchflow_worker_' });
  const driftCounter = new Counter({
    name: 'vouchflow_schema_drift_total',
    help: 'Keys in deliveries that the codecs do not know, by path',
    labelNames: ['path'],
    registers,
  });
  const seenDrift = new Set<string>();
  const unknownCounter = new Counter({
    name: 'vouchflow_unknown_events_total',
    help: 'Deliveries of event types without a codec: kept, processed with no handler',
    labelNames: ['event_type'],
    registers,
  });
  const seenTypes = new Set<string>();
  new Gauge({
    name: 'vouchflow_queue_depth',
    help: 'Jobs per queue and state, read at scrape time',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      this.reset();
      await Promise.all(
        queues().map(async (q) => {
          const counts = await q.getJobCounts('wait', 'active', 'delayed', 'failed', 'completed', 'prioritized');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
        }),
      );
    },
  });
  return {
    registry,
    deliveries: new Counter({
      name: 'vouchflow_deliveries_total',
      help: 'Deliveries taken from intake, by outcome (routed, unknown_type, undecodable)',
      labelNames: ['outcome'],
      registers,
    }),
    unknownEvents: {
      inc({ event_type }) {
        const type = seenTypes.has(event_type) || seenTypes.size < MAX_UNKNOWN_TYPES ? event_type : '(other)';
        seenTypes.add(type);
        unknownCounter.inc({ event_type: type });
      },
    },
    drift(path) {
      if (!seenDrift.has(path) && seenDrift.size >= MAX_DRIFT_PATHS) path = '(other)';
      seenDrift.add(path);
      driftCounter.inc({ path });
    },
    completed: new Counter({
      name: 'vouchflow_handler_completed_total',
      help: 'Units of work completed',
      labelNames: ['handler'],
      registers,
    }),
    skipped: new Counter({
      name: 'vouchflow_handler_skipped_total',
      help: 'Units of work skipped because their business fact was already handled (once-only)',
      labelNames: ['handler', 'reason'],
      registers,
    }),
    failed: new Counter({
      name: 'vouchflow_handler_failed_total',
      help: 'Failed tries (retried or dead-lettered)',
      labelNames: ['handler'],
      registers,
    }),
    retried: new Counter({
      name: 'vouchflow_handler_retried_total',
      help: 'Failed tries that will be retried with backoff',
      labelNames: ['handler'],
      registers,
    }),
    retryLater: new Counter({
      name: 'vouchflow_handler_retry_later_total',
      help: 'Tries postponed by a RetryLaterError, without spending an attempt',
      labelNames: ['handler'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'vouchflow_dead_lettered_total',
      help: `Units of work dead-lettered, by handler (${INTAKE_LABEL}: deliveries that do not decode)`,
      labelNames: ['handler'],
      registers,
    }),
    claimsLost: new Counter({
      name: 'vouchflow_claims_lost_total',
      help: 'Runs that found another run holding their once-only claim (renewal or record): they wrote nothing',
      labelNames: ['handler'],
      registers,
    }),
    overruns: new Counter({
      name: 'vouchflow_handler_overruns_total',
      help: 'Handler runs that ignored their abort signal past their timeout or shutdown: permit and claim kept until they settle',
      labelNames: ['handler'],
      registers,
    }),
    unitsInDoubt: new Counter({
      name: 'vouchflow_units_in_doubt_total',
      help: 'Units whose earlier run started and never ended (its process died or froze), by resolution: wasDone confirmed_done (not run), ran_again (wasDone found no effect), check_failed (retried, still in doubt), ran_unchecked (no wasDone: the effect may repeat)',
      labelNames: ['handler', 'resolution'],
      registers,
    }),
    recordWindow: new Histogram({
      name: 'vouchflow_unit_record_seconds',
      help: 'From a handler settling to its done record acknowledged by Redis: the window in which a dying process repeats an effect',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    circuitState: new Gauge({
      name: 'vouchflow_circuit_state',
      help: "A handler's circuit breaker: 0 closed, 1 open (its units wait, no attempt spent), 2 half-open (one probe runs)",
      labelNames: ['handler'],
      registers,
    }),
    circuitTransitions: new Counter({
      name: 'vouchflow_circuit_transitions_total',
      help: "Changes of a handler's circuit breaker, by the state it went to (open, half-open, closed)",
      labelNames: ['handler', 'to'],
      registers,
    }),
    duration: new Histogram({
      name: 'vouchflow_handler_duration_seconds',
      help: 'Time in handle(), by outcome',
      labelNames: ['handler', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
  };
}

/**
 * Redis memory, read at scrape time: used memory and maxmemory from INFO, and
 * bytes per event over the last hour from the samples every worker records
 * (see the worker's memory sampler). NaN: no reading (Redis away, or no samples yet).
 */
export function registerRedisMemoryMetrics(
  registry: Registry,
  read: () => Promise<{ usedMemory: number; maxmemory: number; bytesPerEvent: number | null }>,
): void {
  type Reading = { usedMemory: number; maxmemory: number; bytesPerEvent: number | null };
  let last: Promise<Reading | undefined> | undefined;
  // One read per scrape for the three gauges: each collect() asks, the first one reads.
  // A failed read leaves them out of that scrape rather than failing the scrape.
  const reading = () => {
    last ??= read()
      .catch(() => undefined)
      .finally(() => setImmediate(() => (last = undefined)));
    return last;
  };
  const registers = [registry];
  new Gauge({
    name: 'vouchflow_redis_used_memory_bytes',
    help: 'Redis used_memory (summed over a cluster’s masters)',
    registers,
    async collect() {
      this.set((await reading())?.usedMemory ?? NaN);
    },
  });
  new Gauge({
    name: 'vouchflow_redis_maxmemory_bytes',
    help: 'Redis maxmemory; 0 is unlimited',
    registers,
    async collect() {
      this.set((await reading())?.maxmemory ?? NaN);
    },
  });
  new Gauge({
    name: 'vouchflow_redis_bytes_per_event',
    help: 'Redis used memory gained per processed delivery over the last hour (negative while retention sheds more than intake adds)',
    registers,
    async collect() {
      // NaN until two samples a processed delivery apart exist: no figure rather than a made-up 0.
      this.set((await reading())?.bytesPerEvent ?? NaN);
    },
  });
}

export interface ArchiveMetrics {
  archived: Counter<'kind'>;
  writeFailures: Counter;
  journalFailures: Counter;
  dropped: Counter;
}

/** The archive's metrics, only when ARCHIVE_URL is set. The backlog is read at scrape time. */
export function registerArchiveMetrics(registry: Registry, backlog: () => Promise<{ entries: number; claimed: number }>): ArchiveMetrics {
  const registers = [registry];
  new Gauge({
    name: 'vouchflow_archive_backlog',
    help: 'Journal entries (deliveries and outcomes) not yet in PostgreSQL: all of them, and those claimed by an archiver',
    labelNames: ['state'],
    registers,
    async collect() {
      const { entries, claimed } = await backlog();
      this.set({ state: 'waiting' }, entries);
      this.set({ state: 'claimed' }, claimed);
    },
  });
  return {
    archived: new Counter({
      name: 'vouchflow_archive_archived_total',
      help: 'Journal entries written to PostgreSQL by this process, by kind (delivery, outcome)',
      labelNames: ['kind'],
      registers,
    }),
    writeFailures: new Counter({
      name: 'vouchflow_archive_write_failures_total',
      help: 'Archive batches that failed (PostgreSQL away or refusing); their entries stay in the journal and are retried',
      registers,
    }),
    journalFailures: new Counter({
      name: 'vouchflow_archive_journal_failures_total',
      help: 'Journal appends that Redis refused: those entries are missing from the archive',
      registers,
    }),
    dropped: new Counter({
      name: 'vouchflow_archive_dropped_total',
      help: 'Journal entries not appended because the backlog was over ARCHIVE_MAX_BACKLOG: missing from the archive',
      registers,
    }),
  };
}
