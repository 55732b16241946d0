import type { RequestHandler } from 'express';
import type { Job, Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { BeforeHook } from '@bull-board/api/typings/app';
import { ExpressAdapter } from '@bull-board/express';
import { INTAKE_QUEUE } from '@vouchflow/core';
import { deadLetterId } from '@vouchflow/pipeline';
import type { Operations } from '../operations.js';

/**
 * A queue as the dashboard shows it. In vouchflow a queue's failed jobs ARE
 * its dead letters (retries wait in "delayed"), so the dashboard's Retry on a
 * failed job goes through the dead-letter store: fresh attempts and the
 * store's bookkeeping, exactly like `pnpm ops dlq retry`. bull-board's own
 * retry would keep the spent attempts and fail again after one try.
 */
class DeadLetterAwareAdapter extends BullMQAdapter {
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
    const job = await super.getJob(id);
    return job ? this.wrap(job) : undefined;
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map((job) => this.wrap(job));
  }
}

/**
 * Queue-wide destructive actions are refused: they would delete undelivered
 * work or dead letters without a confirmation. `pnpm ops dlq purge` asks
 * first; the dashboard inspects, retries, promotes and pauses.
 */
const REFUSED = [
  '/api/queues/:queueName/empty',
  '/api/queues/:queueName/obliterate',
  '/api/queues/:queueName/clean/:queueStatus',
  '/api/queues/:queueName/add',
  '/api/queues/:queueName/:jobId/update-data',
];

const refuseDestructive: BeforeHook = ({ route }) =>
  REFUSED.includes(route) ? { allow: false, status: 403, message: 'refused in the vouchflow dashboard: use `pnpm ops`' } : undefined;

export interface Dashboard {
  /** Mount under `/dashboard` behind the admin guard. */
  router: RequestHandler;
}

/** bull-board showing intake and every registered handler's queue, refreshed as handlers are registered. */
export function createDashboard(ops: Operations, basePath = '/dashboard'): Dashboard {
  const serverAdapter = new ExpressAdapter().setBasePath(basePath);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: { boardTitle: 'vouchflow', hideDocsLink: true },
      handlerHooks: { before: refuseDestructive },
    },
  });
  const retryDeadLetter = async (id: string) => (await ops.retryDeadLetters([id])).retried.length === 1;
  let shown = '';

  const refresh = async () => {
    const queues = await ops.queues();
    const names = queues.map((q) => q.name).join(',');
    if (names !== shown) {
      board.replaceQueues(
        queues.map(
          (q) =>
            new DeadLetterAwareAdapter(
              q as unknown as Queue,
              retryDeadLetter,
              q.name === INTAKE_QUEUE
                ? 'Deliveries taken in. Failed = dead letters: deliveries that did not decode.'
                : 'One unit of work per event. Failed = dead letters: out of attempts, or failed permanently. Retry gives fresh attempts.',
            ),
        ),
      );
      shown = names;
    }
  };
  const router = serverAdapter.getRouter() as RequestHandler;
  return { router: (req, res, next) => void refresh().then(() => router(req, res, next), next) };
}
