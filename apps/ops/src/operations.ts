import type { Job, JobsOptions, Queue } from 'bullmq';
import { isRight } from 'fp-ts/lib/Either.js';
import {
  INTAKE_QUEUE,
  handlerQueueName,
  projectKey,
  DAY,
  redisMemoryReport,
  type RedisClient,
  type RedisMemoryReport,
} from '@vouchflow/core';
import { businessKeyOf, decodeDelivery } from '@vouchflow/schema';
import {
  eventIdSegment,
  findDelivery,
  INTAKE_TOTAL,
  findIndexedEvents,
  handlerJobId,
  handlerJobOptions,
  handlerReplayJobId,
  unitAttemptsMade,
  unitMaxAttempts,
  unitRecordReader,
  openHandlerQueue,
  openIntakeQueue,
  readConflictingDuplicates,
  readCircuit,
  type CircuitView,
  type ConflictingDuplicate,
  type UnitRecord,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterStore,
  type HandlerJobData,
  type IntakeJobData,
  type Progress,
  type RegisteredHandler,
} from '@vouchflow/pipeline';
import type { ArchiveStore, ArchivedEvent } from '@vouchflow/archive';
import { ConflictError } from './errors/conflict-error.js';
import { whyWaiting } from './waiting.js';
import { findEvents, type FindQuery, type FoundEvent } from './find-events.js';
import { NotFoundError } from './errors/not-found-error.js';

/** Counts of one queue; `dead` is its dead letters (for intake: deliveries that did not decode). */
export interface QueueStats {
  queue: string;
  /** `null` for the intake queue. */
  handler: string | null;
  /** Paused (from the dashboard): nothing is taken from it until it is resumed. */
  paused: boolean;
  waiting: number;
  active: number;
  delayed: number;
  /**
   * Jobs in BullMQ's completed set (kept by retention). Intake's are removed
   * at once, and a handler's first tries that succeed inline leave none: see `done`.
   */
  completed: number;
  /**
   * Handlers: units recorded done since the deployment began, whether they
   * ran inline in their intake job or as a job of this queue; skips of twins
   * already done are not counted. Intake: deliveries processed (kept).
   */
  done: number | null;
  failed: number;
  dead: number;
  /** Handlers only (`null` for intake): its circuit breaker. `open`: its units wait (delayed, no attempt spent) until a probe succeeds. */
  circuit: CircuitView['state'] | null;
}

/**
 * Where one piece of work stands. `dead`: in the dead letters (BullMQ's failed
 * set; tries that will be retried wait in `delayed`). `completed` also covers a
 * unit that left no job (its first try ran inline, or its job aged out) but
 * whose once-only record says it was done. `in-doubt`: a unit that left no job
 * whose run started and never ended (see {@link HandlerWork.inDoubt}). `gone`:
 * retention removed every record of it.
 */
export type WorkState = 'waiting' | 'active' | 'delayed' | 'completed' | 'in-doubt' | 'dead' | 'gone' | 'unknown';

/**
 * What the next run of a unit in doubt does: `ask-was-done`, its handler's
 * `wasDone` looks the effect up first (done: recorded without running; not
 * done: it runs); `run-again`, its handler has no `wasDone`, so it runs again
 * and its effect may happen twice; `unknown`, no worker has said yet whether
 * the handler has a `wasDone` (registered by an older worker): one or the other.
 */
export type InDoubtNext = 'ask-was-done' | 'run-again' | 'unknown';

/**
 * A run of a unit that started and never ended: its worker died or froze past
 * the claim's lease, so its effect may or may not have happened.
 */
export interface InDoubtWork {
  /** The unit whose run it was: this one, or (for a unit still to run) a twin of the same business fact, whose doubt its next run takes over. */
  owner: string;
  /** That run's try; null when not recorded. */
  attempt: number | null;
  /**
   * Epoch ms its claim's lease ran out unrenewed (Redis's clock, to the
   * second); null when a later run failed before it could settle the doubt
   * (its `wasDone` failed, or it ran without one and failed) and gave the
   * claim back still in doubt: that record keeps no time.
   */
  since: number | null;
  next: InDoubtNext;
}

export interface HandlerWork {
  handler: string;
  jobId: string;
  state: WorkState;
  attemptsMade: number;
  /** Epoch milliseconds. */
  finishedAt: number | null;
  /** The last error, or why the run was skipped; for a waiting or delayed unit, why it waits. */
  reason: string | null;
  /** A waiting or delayed unit: epoch ms it runs next (waiting: now, once a worker is free); null when it does not wait, or waits for a resume. */
  nextRunAt: number | null;
  /** The error of each failed try of its job, oldest first (the first line of the stack BullMQ kept); a first try made inline is not among them. */
  errors: string[];
  /** An operator's replay rather than the original fan-out. */
  replay: boolean;
  /** Set when an earlier run of this unit (or of a twin it waits on) started and never ended; null otherwise, and for a replay (it claims nothing). */
  inDoubt: InDoubtWork | null;
}

/** A unit as a report starts it: no try made, nothing known yet. */
const noWork = (handler: string, jobId: string): Omit<HandlerWork, 'state'> => ({
  handler,
  jobId,
  attemptsMade: 0,
  finishedAt: null,
  reason: null,
  replay: false,
  nextRunAt: null,
  errors: [],
  inDoubt: null,
});

/**
 * A dead letter as every output shows it (`--json`, the admin API, `events show`):
 * its `delivery` is the same value as an event report's, the body parsed when it is
 * JSON (else the text as received), never a JSON string inside JSON.
 */
export type DeadLetterEntry = Omit<DeadLetter, 'delivery'> & {
  /** The delivery as received, parsed when it is JSON. */
  delivery: unknown;
};

export interface EventReport {
  eventId: string;
  eventType: string | null;
  /** Epoch milliseconds when the ingress accepted it. */
  receivedAt: number | null;
  intake: { state: WorkState; attemptsMade: number; reason: string | null; finishedAt: number | null } | null;
  /** The delivery as received, parsed when it is JSON. */
  delivery: unknown;
  handlers: HandlerWork[];
  deadLetters: DeadLetterEntry[];
  /** Deliveries with this event id but another body, answered 2XX by the ingress and not processed: oldest first. */
  conflictingDuplicates: ConflictingDuplicate[];
  /** Where the report comes from: Redis's hot window, or the PostgreSQL archive beyond it. */
  source: 'redis' | 'archive';
}

export interface ReplayResult {
  eventId: string;
  jobs: Array<{ handler: string; jobId: string }>;
}

/** Where one handler stands, for `pnpm ops handlers` and `GET /api/handlers`. */
export interface HandlerStatus {
  handler: string;
  /** `paused`: its units wait in its queue, first tries included, until it is resumed. */
  state: 'running' | 'paused';
  /**
   * Its circuit breaker: `closed`; `open`, its units wait (delayed, no attempt
   * spent) until `until`, when one probe runs; `half-open`, that probe runs.
   */
  circuit: { state: CircuitView['state']; until: number | null; openedAt: number | null };
  waiting: number;
  active: number;
  delayed: number;
  dead: number;
  /** Units recorded done since the deployment began. */
  done: number;
  /** The newest dead letter's reason and time, if any. */
  lastError: { reason: string; at: number } | null;
}

export interface RetryResult {
  retried: string[];
  notFound: string[];
}

export interface OperationsDeps {
  connection: RedisClient;
  queuePrefix: string;
  deadLetters: DeadLetterStore;
  /** The PostgreSQL archive (`ARCHIVE_URL`): read when Redis no longer holds an event. */
  archive?: ArchiveStore;
  /** The handlers this deployment runs, with their retry settings (the worker's registry). */
  handlers: () => Promise<ReadonlyMap<string, RegisteredHandler>>;
}

/** The operator's verbs, shared by the CLI and the admin API so both do exactly the same thing. */
export interface Operations {
  stats(): Promise<QueueStats[]>;
  /** Redis's used memory, maxmemory and bytes per processed event over the last hour (sampled by the workers). */
  redisMemory(): Promise<RedisMemoryReport>;
  listDeadLetters(filter?: DeadLetterFilter): Promise<DeadLetterEntry[]>;
  countDeadLetters(filter?: DeadLetterFilter): Promise<number>;
  /** @throws NotFoundError */
  getDeadLetter(id: string): Promise<DeadLetterEntry>;
  retryDeadLetters(ids: readonly string[]): Promise<RetryResult>;
  retryAllDeadLetters(filter?: DeadLetterFilter, onProgress?: Progress): Promise<number>;
  purgeDeadLetters(filter?: DeadLetterFilter, onProgress?: Progress): Promise<number>;
  /** The ids of the matching entries: list them, count them, ask, then purge exactly these. */
  deadLetterIds(filter?: DeadLetterFilter): Promise<string[]>;
  /** Deletes exactly these entries (those still dead letters); the number deleted. */
  purgeDeadLetterIds(ids: readonly string[], onProgress?: Progress): Promise<number>;
  /** @throws NotFoundError when nothing about the event is kept. */
  showEvent(eventId: string): Promise<EventReport>;
  /** Events about a customer, a voucher code or a transaction, newest first, each with its handlers' outcomes. @throws UsageError */
  findEvents(query: FindQuery): Promise<FoundEvent[]>;
  /** @throws NotFoundError, ConflictError */
  replay(eventId: string, handler?: string): Promise<ReplayResult>;
  /** Every handler the deployment runs or ran. */
  handlers(): Promise<HandlerStatus[]>;
  /** Stops the handler's units (never intake's or another handler's) until `resumeHandler`. @throws NotFoundError */
  pauseHandler(handler: string): Promise<HandlerStatus>;
  /** @throws NotFoundError */
  resumeHandler(handler: string): Promise<HandlerStatus>;
  /** Every handler's circuit breaker, by handler name. */
  circuits(): Promise<Map<string, CircuitView>>;
  /** The queues, for the dashboard. */
  queues(): Promise<Array<Queue<IntakeJobData> | Queue<HandlerJobData>>>;
  /** Closes the queues it opened; the connection is the caller's. */
  close(): Promise<void>;
}

// Longer than any delivery retention, so `events show` can still list the replays of a kept delivery.
const REPLAY_COUNTER_TTL_S = (30 * DAY) / 1000;

/** The n-th replay of an event for a handler: a fresh id, since BullMQ ignores an add whose id still exists. */
export const replayJobId = (eventId: string, handler: string, n: number): string => handlerReplayJobId(eventId, handler, String(n));

const workState = (state: string): WorkState => {
  switch (state) {
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return 'waiting';
    case 'active':
    case 'delayed':
    case 'completed':
      return state;
    case 'failed':
      return 'dead';
    default:
      return 'unknown';
  }
};

const parseBody = (body: string): unknown => {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
};

/** The one shape of a dead letter in every output: see {@link DeadLetterEntry}. */
export const deadLetterEntry = (d: DeadLetter): DeadLetterEntry => ({ ...d, delivery: parseBody(d.delivery) });

/** Handlers the intake job fanned out to, from its return value. */
/** The business fact a delivery reports, which keys its once-only records; undefined when it does not decode. */
const businessKeyOfBody = (body: string): string | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const decoded = decodeDelivery(parsed);
  return isRight(decoded) ? businessKeyOf(decoded.right.event) : undefined;
};

/**
 * A replay's job options: the attempts and backoff the deployment's workers
 * registered, else the original unit's (tries made inline before it existed
 * count), else the defaults.
 */
function replayOptions(jobId: string, registered: RegisteredHandler | undefined, original: Job<HandlerJobData> | undefined): JobsOptions {
  const defaults = handlerJobOptions(jobId, {
    ...(registered?.attempts !== undefined ? { attempts: registered.attempts } : {}),
    ...(registered?.backoffMs !== undefined ? { backoffMs: registered.backoffMs } : {}),
  });
  if (!original) return defaults;
  const originalAttempts = unitMaxAttempts(original.opts.attempts, original.data);
  return {
    ...defaults,
    attempts: registered?.attempts ?? originalAttempts ?? defaults.attempts,
    backoff: registered?.backoffMs !== undefined ? defaults.backoff : (original.opts.backoff ?? defaults.backoff),
  };
}

type InDoubtRecord = Extract<UnitRecord, { state: 'in-doubt' }>;

const inDoubtWork = (record: InDoubtRecord, next: InDoubtNext): InDoubtWork => ({
  owner: record.owner,
  attempt: record.attempt ?? null,
  since: record.leaseEnded ?? null,
  next,
});

/** What the next run of a unit in doubt does, as the workers registered its handler. */
const nextInDoubt = (registered: RegisteredHandler | undefined): InDoubtNext =>
  registered?.wasDone === undefined ? 'unknown' : registered.wasDone ? 'ask-was-done' : 'run-again';

const skippedReason = (job: Job): string | null => {
  const value: unknown = job.returnvalue;
  return typeof value === 'object' && value !== null && 'skipped' in value && typeof value.skipped === 'string'
    ? `skipped: ${value.skipped}`
    : null;
};

/** An event Redis no longer holds, as the archive kept it: its delivery and each handler's final outcome. */
function archivedReport(archived: ArchivedEvent): EventReport {
  return {
    eventId: archived.eventId,
    eventType: archived.eventType,
    receivedAt: archived.receivedAt,
    intake: { state: 'completed', attemptsMade: 1, reason: null, finishedAt: archived.processedAt },
    delivery: parseBody(archived.body),
    handlers: archived.handlers.map((handler): HandlerWork => {
      const outcome = archived.outcomes.find((o) => o.handler === handler);
      const base = { handler, jobId: handlerJobId(archived.eventId, handler), replay: false, nextRunAt: null, errors: [], inDoubt: null };
      if (!outcome) return { ...base, state: 'unknown', attemptsMade: 0, finishedAt: null, reason: 'no outcome archived' };
      return {
        ...base,
        state: outcome.outcome === 'dead' ? 'dead' : 'completed',
        attemptsMade: outcome.attempts,
        finishedAt: outcome.settledAt,
        reason: outcome.outcome === 'skipped' ? `skipped: ${outcome.reason ?? ''}` : outcome.reason,
      };
    }),
    deadLetters: [],
    conflictingDuplicates: [],
    source: 'archive',
  };
}

export function createOperations(deps: OperationsDeps): Operations {
  const { connection, queuePrefix, deadLetters } = deps;
  const intake = openIntakeQueue({ connection, queuePrefix });
  const handlerQueues = new Map<string, Queue<HandlerJobData>>();
  const handlerQueue = (name: string) => {
    let queue = handlerQueues.get(name);
    if (!queue) {
      queue = openHandlerQueue(name, { connection, queuePrefix });
      handlerQueues.set(name, queue);
    }
    return queue;
  };
  const replayCounterKey = (eventId: string, handler: string) =>
    projectKey(queuePrefix, 'ops', 'replays', eventIdSegment(eventId), handler);
  const once = unitRecordReader(connection, queuePrefix);
  const handlerNames = async () => [...(await deps.handlers()).keys()];

  /**
   * A unit of work that has no job: its first try ran inline in the intake job
   * (the worker's INLINE_FIRST_TRY), or its job aged out. Its once-only record
   * tells what became of it: done by this unit (or by a replay of this event,
   * which rewrites the record after the unit ended), done by a twin (so this
   * unit was skipped), running now, or in doubt (its run never ended). Undefined
   * when the record says nothing about this unit: a twin's claim, running or in
   * doubt, is the twin's. A twin's done record counts only for handlers this
   * event was handed to: other handlers never had a unit for it.
   */
  function unitWithoutJob(
    handler: string,
    jobId: string,
    record: UnitRecord | undefined,
    { handedTo, replayIds, next }: { handedTo: boolean; replayIds: readonly string[]; next: InDoubtNext },
  ): HandlerWork | undefined {
    if (!record) return undefined;
    const { owner } = record;
    const own = owner === jobId;
    const base = { ...noWork(handler, jobId), attemptsMade: 1 };
    switch (record.state) {
      case 'running':
        return own ? { ...base, state: 'active', attemptsMade: record.attempt ?? 1 } : undefined;
      case 'in-doubt':
        return own ? { ...base, state: 'in-doubt', attemptsMade: record.attempt ?? 1, inDoubt: inDoubtWork(record, next) } : undefined;
      case 'done':
        // A twin skipped made one try; records written before they kept attempts and times count one too.
        if (own) return { ...base, state: 'completed', attemptsMade: record.attempts ?? 1, finishedAt: record.at ?? null };
        if (handedTo && replayIds.includes(owner)) return { ...base, state: 'completed' };
        return handedTo ? { ...base, state: 'completed', reason: `skipped: already done by ${owner}` } : undefined;
    }
  }

  async function counts(queue: Queue): Promise<Omit<QueueStats, 'queue' | 'handler' | 'done' | 'dead' | 'circuit'>> {
    const [c, paused] = await Promise.all([
      queue.getJobCounts('wait', 'prioritized', 'waiting-children', 'active', 'delayed', 'completed', 'failed'),
      queue.isPaused(),
    ]);
    return {
      paused,
      waiting: (c['wait'] ?? 0) + (c['prioritized'] ?? 0) + (c['waiting-children'] ?? 0),
      active: c['active'] ?? 0,
      delayed: c['delayed'] ?? 0,
      completed: c['completed'] ?? 0,
      failed: c['failed'] ?? 0,
    };
  }

  async function workOf(job: Job<HandlerJobData>, handler: string, replay: boolean): Promise<HandlerWork> {
    const state = workState(await job.getState());
    const work: HandlerWork = {
      handler,
      jobId: job.id ?? '',
      state,
      // Tries made inline, before the job existed, count too.
      attemptsMade: unitAttemptsMade(job.attemptsMade, job.data),
      finishedAt: job.finishedOn ?? null,
      reason: job.failedReason || skippedReason(job),
      replay,
      nextRunAt: null,
      errors: (job.stacktrace ?? []).map((stack) => stack.split('\n', 1)[0] ?? stack),
      inDoubt: null,
    };
    if (state !== 'waiting' && state !== 'delayed') return work;
    return {
      ...work,
      ...(await whyWaiting({ connection, queuePrefix, queue: handlerQueue(handler), handler, now: Date.now() }, job, state)),
    };
  }

  /** The name as the deployment knows it, or a NotFoundError listing the real ones. */
  async function knownHandler(handler: string): Promise<string> {
    const names = await handlerNames();
    if (names.includes(handler)) return handler;
    throw new NotFoundError(`no handler named ${handler} (this deployment runs: ${names.sort().join(', ') || 'none'})`);
  }

  /** A mistyped `--handler` would match nothing and look like "no dead letters": refuse it instead. */
  async function knownFilter(filter: DeadLetterFilter | undefined): Promise<DeadLetterFilter | undefined> {
    if (typeof filter?.handler === 'string') await knownHandler(filter.handler);
    return filter;
  }

  async function handlerStatus(handler: string, doneTotals?: Record<string, number>): Promise<HandlerStatus> {
    const queue = handlerQueue(handler);
    const [c, [newest], dead, done, circuit] = await Promise.all([
      counts(queue),
      deadLetters.list({ handler, limit: 1 }),
      deadLetters.count({ handler }),
      doneTotals ? Promise.resolve(doneTotals) : once.doneTotals(),
      readCircuit(connection, queuePrefix, handler),
    ]);
    return {
      handler,
      state: c.paused ? 'paused' : 'running',
      circuit: { state: circuit.state, until: circuit.until, openedAt: circuit.openedAt },
      waiting: c.waiting,
      active: c.active,
      delayed: c.delayed,
      dead,
      done: done[handler] ?? 0,
      lastError: newest ? { reason: newest.reason, at: newest.lastFailedAt } : null,
    };
  }

  const operations: Operations = {
    async handlers() {
      const [names, done] = await Promise.all([handlerNames(), once.doneTotals()]);
      return Promise.all(names.sort().map((name) => handlerStatus(name, done)));
    },

    async circuits() {
      const names = await handlerNames();
      const views = await Promise.all(names.map((name) => readCircuit(connection, queuePrefix, name)));
      return new Map(names.map((name, i) => [name, views[i]!]));
    },

    async pauseHandler(handler) {
      const name = await knownHandler(handler);
      await handlerQueue(name).pause();
      return handlerStatus(name);
    },

    async resumeHandler(handler) {
      const name = await knownHandler(handler);
      await handlerQueue(name).resume();
      return handlerStatus(name);
    },

    redisMemory: () => redisMemoryReport(deps.connection, deps.queuePrefix),

    async stats() {
      const [names, done] = await Promise.all([handlerNames(), once.doneTotals()]);
      const perHandler = await Promise.all(
        names.map(async (handler): Promise<QueueStats> => ({
          queue: handlerQueueName(handler),
          handler,
          ...(await counts(handlerQueue(handler))),
          done: done[handler] ?? 0,
          dead: await deadLetters.count({ handler }),
          circuit: (await readCircuit(connection, queuePrefix, handler)).state,
        })),
      );
      // Intake's dead letters are the deliveries that did not decode; its done, the deliveries processed
      // (its completed jobs are removed at once, their deliveries kept as compact records).
      const intakeStats: QueueStats = {
        queue: INTAKE_QUEUE,
        handler: null,
        ...(await counts(intake)),
        done: done[INTAKE_TOTAL] ?? 0,
        dead: await deadLetters.count({ handler: null }),
        circuit: null,
      };
      return [intakeStats, ...perHandler];
    },

    listDeadLetters: async (filter) => (await deadLetters.list(await knownFilter(filter))).map(deadLetterEntry),
    countDeadLetters: async (filter) => deadLetters.count(await knownFilter(filter)),

    async getDeadLetter(id) {
      const found = await deadLetters.get(id);
      if (!found) throw new NotFoundError(`no dead letter with id ${id}`);
      return deadLetterEntry(found);
    },

    async retryDeadLetters(ids) {
      const result: RetryResult = { retried: [], notFound: [] };
      for (const id of ids) ((await deadLetters.retry(id)) ? result.retried : result.notFound).push(id);
      return result;
    },

    retryAllDeadLetters: async (filter, onProgress) => deadLetters.retryAll(await knownFilter(filter), onProgress),
    purgeDeadLetters: async (filter, onProgress) => deadLetters.purge(await knownFilter(filter), onProgress),
    deadLetterIds: async (filter) => deadLetters.ids(await knownFilter(filter)),
    purgeDeadLetterIds: (ids, onProgress) => deadLetters.purgeIds(ids, onProgress),

    async showEvent(eventId) {
      const [kept, registry, dead, conflicting] = await Promise.all([
        findDelivery({ connection, queuePrefix }, eventId),
        deps.handlers(),
        // Every queue's, intake's too: deliveries that did not decode are not indexed by event id.
        deadLetters.list({ eventId }),
        readConflictingDuplicates(connection, queuePrefix, eventId),
      ]);
      const handedTo = kept?.handlers ?? [];
      const businessKey = kept ? businessKeyOfBody(kept.body) : undefined;
      const handlers: HandlerWork[] = [];
      for (const handler of [...new Set([...handedTo, ...registry.keys()])]) {
        const queue = handlerQueue(handler);
        const replays = Number((await connection.get(replayCounterKey(eventId, handler))) ?? 0);
        const replayIds = Array.from({ length: replays }, (_, i) => replayJobId(eventId, handler, i + 1));
        const jobId = handlerJobId(eventId, handler);
        // Read for the original unit only: a replay claims nothing.
        const record = businessKey === undefined ? undefined : await once.read(businessKey, handler);
        const next = nextInDoubt(registry.get(handler));
        const job = (await queue.getJob(jobId)) as Job<HandlerJobData> | undefined;
        if (job) {
          const work = await workOf(job, handler, false);
          // Its own run in doubt, whatever its job's state; a twin's only if this unit is still to run, since its next claim takes that doubt over.
          const doubt =
            record?.state === 'in-doubt' && (record.owner === jobId || work.state === 'waiting' || work.state === 'delayed')
              ? inDoubtWork(record, next)
              : null;
          handlers.push({ ...work, inDoubt: doubt });
        } else {
          const unit = unitWithoutJob(handler, jobId, record, { handedTo: handedTo.includes(handler), replayIds, next });
          if (unit) handlers.push(unit);
          else if (handedTo.includes(handler)) {
            handlers.push({ ...noWork(handler, jobId), state: 'gone' });
          }
        }
        for (const replayId of replayIds) {
          const replayJob = (await queue.getJob(replayId)) as Job<HandlerJobData> | undefined;
          if (replayJob) handlers.push(await workOf(replayJob, handler, true));
        }
      }
      if (!kept && handlers.length === 0 && dead.length === 0 && conflicting.length === 0) {
        const archived = await deps.archive?.findEvent(eventId);
        if (archived) return archivedReport(archived);
        throw new NotFoundError(`nothing is kept about event ${eventId} (unknown, or older than the delivery retention)`);
      }
      const deliveryText = kept?.body ?? dead[0]?.delivery;
      const undecoded = dead.find((d) => d.handler === null);
      let intakeWork: EventReport['intake'] = null;
      // Kept as it is fanned out; its intake job is removed once its first tries settle.
      const intakeJob = kept ? await intake.getJob(kept.intakeJobId) : undefined;
      if (intakeJob) {
        intakeWork = {
          state: workState(await intakeJob.getState()),
          attemptsMade: intakeJob.attemptsMade,
          reason: intakeJob.failedReason || null,
          finishedAt: intakeJob.finishedOn ?? null,
        };
      } else if (kept) {
        intakeWork = { state: 'completed', attemptsMade: kept.intakeAttempts, reason: null, finishedAt: kept.processedAt };
      } else if (undecoded) {
        intakeWork = { state: 'dead', attemptsMade: undecoded.attempts, reason: undecoded.reason, finishedAt: undecoded.lastFailedAt };
      }
      return {
        eventId,
        eventType: kept?.eventType ?? dead[0]?.eventType ?? null,
        receivedAt: kept?.receivedAt ?? null,
        intake: intakeWork,
        delivery: deliveryText === undefined ? null : parseBody(deliveryText),
        handlers,
        deadLetters: dead.map(deadLetterEntry),
        conflictingDuplicates: conflicting,
        source: 'redis',
      };
    },

    async replay(eventId, only) {
      const kept = await findDelivery({ connection, queuePrefix }, eventId);
      const archived = kept ? undefined : await deps.archive?.findEvent(eventId);
      if (!kept && !archived) {
        throw new NotFoundError(
          `no delivery of event ${eventId} is kept (unknown, or older than the delivery retention${deps.archive ? ' and not in the archive' : ''})`,
        );
      }
      // Kept (or archived) only once fanned out: an event still being taken in, or that did not decode, is found by neither.
      const from = kept ?? archived!;
      const delivery: IntakeJobData = { body: from.body, eventId: from.eventId, eventType: from.eventType, receivedAt: from.receivedAt };
      const registry = await deps.handlers();
      const deployed = [...registry.keys()];
      let targets: string[];
      if (only !== undefined) {
        if (!deployed.includes(only))
          throw new NotFoundError(`no handler named ${only} (this deployment runs: ${deployed.join(', ') || 'none'})`);
        targets = [only];
      } else {
        targets = from.handlers.filter((h) => deployed.includes(h));
        if (targets.length === 0) throw new ConflictError(`event ${eventId} was not handed to any handler this deployment runs`);
      }
      // The delivery's trace context, as the ingress stored it (kept with the delivery): the replay's
      // tries continue that trace, so a tracing backend shows them beside the original ones.
      const traceMetadata = kept?.trace;
      const trace: Pick<JobsOptions, 'telemetry'> = traceMetadata ? { telemetry: { metadata: traceMetadata } } : {};
      const jobs: ReplayResult['jobs'] = [];
      for (const handler of targets) {
        const queue = handlerQueue(handler);
        const original = (await queue.getJob(handlerJobId(eventId, handler))) as Job<HandlerJobData> | undefined;
        const counterKey = replayCounterKey(eventId, handler);
        const n = await connection.incr(counterKey);
        await connection.expire(counterKey, REPLAY_COUNTER_TTL_S);
        const jobId = replayJobId(eventId, handler, n);
        await queue.add(
          'replay',
          { ...delivery, handler, replay: true },
          { ...replayOptions(jobId, registry.get(handler), original), ...trace },
        );
        jobs.push({ handler, jobId });
      }
      return { eventId, jobs };
    },

    async queues() {
      const names = await handlerNames();
      return [intake, ...names.map(handlerQueue)];
    },

    async findEvents(query) {
      const { archive } = deps;
      return findEvents(query, {
        indexed: async (q) => findIndexedEvents(connection, queuePrefix, q, await handlerNames()),
        show: (eventId) => operations.showEvent(eventId),
        ...(archive ? { archived: async (q) => (await archive.findEvents(q)).map(archivedReport) } : {}),
      });
    },

    async close() {
      await Promise.all([intake.close(), ...[...handlerQueues.values()].map((q) => q.close())]);
    },
  };
  return operations;
}
