import type { RequestHandler } from 'express';
import type { Job, Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { BeforeHook } from '@bull-board/api/typings/app';
import { ExpressAdapter } from '@bull-board/express';
import { handlerQueueName, INTAKE_QUEUE, type Logger } from '@vouchflow/core';
import { deadLetterId, namesQueueKey, type CircuitView } from '@vouchflow/pipeline';
import type { Operations } from '../operations.js';

/**
 * A queue as the dashboard shows it. In vouchflow a queue's failed jobs ARE
 * its dead letters (retries wait in "delayed"), so the dashboard's Retry on a
 * failed job goes through the dead-letter store: fresh attempts and the
 * store's bookkeeping, exactly like `pnpm ops dlq retry`. bull-board's own
 * retry would keep the spent attempts and fail again after one try.
 */
class DeadLetterAwareAdapter extends BullMQAdapter {
  /** Shown after the description: the handler's circuit breaker when it is not closed. */
  note = '';

  constructor(
    queue: Queue,
    private readonly retryDeadLetter: (id: string) => Promise<boolean>,
    description: string,
  ) {
    // Completed jobs are not retried from here: running a succeeded handler again is a replay (`pnpm ops replay`).
    // BullMQAdapter's type omits allowCompletedRetries, but hands every option to BaseAdapter, which reads it.
    const options = { allowRetries: true, allowCompletedRetries: false, description };
    super(queue, options);
  }

  override getDescription(): string {
    return this.note ? `${this.note} ${super.getDescription()}` : super.getDescription();
  }

  private wrap(job: Job): Job {
    const queueName = this.getName();
    job.retry = async () => {
      if (!(await this.retryDeadLetter(deadLetterId(queueName, String(job.id))))) {
        throw new Error(`job ${job.id} is not a dead letter any more`);
      }
    };
    return job;
  }

  override async getJob(id: string): Promise<Job | undefined> {
    // An id like `failed` or `meta` would read the queue's own keys as if they were a job.
    if (namesQueueKey(id)) return undefined;
    const job = await super.getJob(id);
    return job ? this.wrap(job) : undefined;
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map((job) => this.wrap(job));
  }
}

/**
 * What the dashboard may change, by bull-board route (`METHOD /path`). Reads
 * (GET) are open. Every mutating route is listed: allowed ones say why they
 * are safe, refused ones name the `pnpm ops` command to use instead, so the
 * answer teaches the way that keeps the bookkeeping right. A route missing
 * here is refused, and `dashboard-routes.test.ts` walks bull-board's own route
 * table so an upgrade that adds one fails CI instead of opening it.
 */
export type DashboardRule =
  | { allow: true; why: string; audit?: boolean }
  | { allow: false; use: string }
  /** Allowed for some parameters only. */
  | { allow: 'when'; test: (params: Record<string, string>) => boolean; why: string; use: string };

const DEAD_LETTER_STORE = 'retried through the dead-letter store (fresh attempts), like `pnpm ops dlq retry`';
const PURGE = '`pnpm ops dlq purge` (lists and counts what it deletes, and asks first)';

export const DASHBOARD_MUTATIONS: Readonly<Record<string, DashboardRule>> = {
  'put /api/queues/:queueName/:jobId/retry': { allow: true, why: DEAD_LETTER_STORE },
  'put /api/queues/:queueName/retry/:queueStatus': {
    allow: 'when',
    test: (p) => p['queueStatus'] === 'failed',
    why: DEAD_LETTER_STORE,
    use: '`pnpm ops replay <eventId>` to run a completed unit again',
  },
  'put /api/queues/:queueName/:jobId/promote': { allow: true, why: 'runs a waiting retry now; nothing is deleted' },
  'put /api/queues/:queueName/promote': { allow: true, why: 'runs waiting retries now; nothing is deleted' },
  'put /api/queues/:queueName/pause': { allow: true, why: 'stops taking work during an outage; logged', audit: true },
  'put /api/queues/:queueName/resume': { allow: true, why: 'logged', audit: true },
  'put /api/queues/pause': { allow: true, why: 'logged', audit: true },
  'put /api/queues/resume': { allow: true, why: 'logged', audit: true },
  'post /api/queues/:queueName/add': { allow: false, use: '`pnpm ops replay <eventId>` (or `pnpm sample` to send a delivery)' },
  'put /api/queues/:queueName/clean/:queueStatus': { allow: false, use: PURGE },
  'put /api/queues/:queueName/:jobId/clean': { allow: false, use: PURGE },
  'put /api/queues/:queueName/empty': { allow: false, use: PURGE },
  'put /api/queues/:queueName/obliterate': { allow: false, use: PURGE },
  'put /api/queues/:queueName/:jobId/remove-unprocessed-children': { allow: false, use: PURGE },
  'patch /api/queues/:queueName/:jobId/update-data': { allow: false, use: '`pnpm ops replay <eventId>` (deliveries are kept as received)' },
  'patch /api/queues/:queueName/:jobId/delay': { allow: false, use: "`pnpm ops dlq retry <id>` (retries follow the worker's backoff)" },
  'patch /api/queues/:queueName/:jobId/priority': { allow: false, use: '`pnpm ops dlq retry <id>` (units are not reordered by hand)' },
  'put /api/queues/:queueName/concurrency': {
    allow: false,
    use: '`pnpm ops stats` to watch; concurrency is set in the handler definition',
  },
  'put /api/queues/:queueName/rate-limit': {
    allow: false,
    use: '`pnpm ops stats` to watch; rate limits are set in the handler definition',
  },
  'put /api/queues/:queueName/rate-limit/release': {
    allow: false,
    use: '`pnpm ops stats` to watch; rate limits are set in the handler definition',
  },
  'put /api/queues/:queueName/job-schedulers/:schedulerId/remove': { allow: false, use: '`pnpm ops stats` (vouchflow schedules no jobs)' },
  'patch /api/queues/:queueName/job-schedulers/:schedulerId': { allow: false, use: '`pnpm ops stats` (vouchflow schedules no jobs)' },
  'post /api/metrics/history/purge': { allow: false, use: '`pnpm ops stats` (vouchflow keeps no metrics history in the dashboard)' },
  'put /api/queues/:queueName/job-schedulers/:schedulerId/run': { allow: false, use: '`pnpm ops stats` (vouchflow schedules no jobs)' },
};

/** Who sent a dashboard request, as the admin guard wrote it (a client cannot set it: the guard overwrites it). */
export const PRINCIPAL_HEADER = 'x-vouchflow-admin-principal';

const refusal = (use: string) => ({
  allow: false as const,
  status: 403 as const,
  message: `refused in the vouchflow dashboard: use ${use}`,
});

function allowList(logger: Logger | undefined): BeforeHook {
  return ({ method, route, request }) => {
    if (method === 'get') return undefined;
    const rule = DASHBOARD_MUTATIONS[`${method} ${route}`];
    if (rule === undefined) return refusal('`pnpm ops` (this dashboard action is not on the allow-list)');
    const params = (request?.params ?? {}) as Record<string, string>;
    if (rule.allow === false) return refusal(rule.use);
    if (rule.allow === 'when' && !rule.test(params)) return refusal(rule.use);
    if (rule.allow === true && rule.audit) {
      const who = request?.headers?.[PRINCIPAL_HEADER];
      logger?.warn('dashboard action', { action: `${method.toUpperCase()} ${route}`, queue: params['queueName'] ?? '(all)', by: who });
    }
    return undefined;
  };
}

export interface Dashboard {
  /** Mount under `/dashboard` behind the admin guard. */
  router: RequestHandler;
}

/** bull-board showing intake and every registered handler's queue, refreshed as handlers are registered. */
export function createDashboard(ops: Operations, basePath = '/dashboard', logger?: Logger): Dashboard {
  const serverAdapter = new ExpressAdapter().setBasePath(basePath);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      // The event pages (search by customer, code or event id; an event's timeline) sit beside the queue view.
      uiConfig: { boardTitle: 'vouchflow', hideDocsLink: true, miscLinks: [{ text: 'Find events', url: `${basePath}/events` }] },
      handlerHooks: { before: allowList(logger) },
    },
  });
  const retryDeadLetter = async (id: string) => (await ops.retryDeadLetters([id])).retried.length === 1;
  let shown = '';
  let adapters: DeadLetterAwareAdapter[] = [];

  const refresh = async () => {
    const [queues, circuits] = await Promise.all([ops.queues(), ops.circuits()]);
    const names = queues.map((q) => q.name).join(',');
    if (names !== shown) {
      adapters = queues.map(
        (q) =>
          new DeadLetterAwareAdapter(
            q as unknown as Queue,
            retryDeadLetter,
            q.name === INTAKE_QUEUE
              ? 'Deliveries taken in. Failed = dead letters: deliveries that did not decode.'
              : 'One unit of work per event. Failed = dead letters: out of attempts, or failed permanently. Retry gives fresh attempts.',
          ),
      );
      board.replaceQueues(adapters);
      shown = names;
    }
    const byQueue = new Map([...circuits].map(([handler, view]) => [handlerQueueName(handler), view]));
    for (const adapter of adapters) adapter.note = circuitNote(byQueue.get(adapter.getName()));
  };
  const router = serverAdapter.getRouter() as RequestHandler;
  return { router: (req, res, next) => void refresh().then(() => router(req, res, next), next) };
}

/** What the queue's card says about an open breaker; nothing when closed. */
export function circuitNote(view: CircuitView | undefined): string {
  if (!view || view.state === 'closed') return '';
  if (view.state === 'half-open') return 'Circuit half-open: one probe unit runs, the others wait.';
  const until = view.until !== null ? ` until ${new Date(view.until).toISOString().slice(11, 19)}Z` : '';
  return `Circuit open${until}: its units wait in delayed, spending no attempt; then one probe runs.`;
}
