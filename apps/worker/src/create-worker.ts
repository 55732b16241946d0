import { Worker, UnrecoverableError, type Job, type Queue } from 'bullmq';
import { isLeft } from 'fp-ts/lib/Either.js';
import { bullPrefix, coerceError, handlerQueueName, INTAKE_QUEUE, SECOND, type Logger, type RedisClient } from '@vouchflow/core';
import { businessKeyOf, decodeDelivery, occurredAtOf, type DecodedDelivery } from '@vouchflow/schema';
import { PermanentError, RetryLaterError, type AnyHandler, type HandlerContext } from '@vouchflow/handler-kit';
import { handlerJobId, openHandlerQueue, type HandlerJobData, type IntakeJobData } from '@vouchflow/pipeline';
import { createRouter } from './routing.js';

export interface WorkerDeps {
  connection: RedisClient;
  queuePrefix: string;
  handlers: readonly AnyHandler[];
  logger: Logger;
  maxAttempts: number;
  backoffMs: number;
}

export interface RunningWorker {
  /** Stops taking jobs, waits for the ones running, closes queues. Redis is the caller's to close. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT = 30 * SECOND;
const DEFAULT_CONCURRENCY = 10;

function decodeJob(data: IntakeJobData): DecodedDelivery {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.body);
  } catch (err) {
    throw new UnrecoverableError(`body is not JSON: ${coerceError(err).message}`);
  }
  const decoded = decodeDelivery(parsed);
  if (isLeft(decoded)) throw new UnrecoverableError(decoded.left.message);
  return decoded.right;
}

/** Starts the intake worker and one worker per handler. */
export function createWorker(deps: WorkerDeps): RunningWorker {
  const { connection, queuePrefix, handlers, logger, maxAttempts, backoffMs } = deps;
  const prefix = bullPrefix(queuePrefix);
  const route = createRouter(handlers);
  const handlerQueues = new Map<string, Queue<HandlerJobData>>(
    handlers.map((h) => [h.name, openHandlerQueue(h.name, { connection, queuePrefix })]),
  );

  const intake = new Worker<IntakeJobData>(
    INTAKE_QUEUE,
    async (job) => {
      const decoded = decodeJob(job.data);
      const log = logger.child({ eventId: job.data.eventId, eventType: job.data.eventType, jobId: job.id });
      if (!decoded.known) {
        log.info('unfamiliar event type: kept, no handler');
        return { handlers: [] };
      }
      const targets = route(decoded.event.event.type);
      await Promise.all(
        targets.map((h) =>
          handlerQueues.get(h.name)!.add(
            'run',
            { ...job.data, handler: h.name },
            {
              jobId: handlerJobId(job.data.eventId, h.name),
              attempts: maxAttempts,
              backoff: { type: 'exponential', delay: backoffMs },
            },
          ),
        ),
      );
      log.debug('fanned out', { handlers: targets.map((h) => h.name) });
      return { handlers: targets.map((h) => h.name) };
    },
    { connection, prefix, concurrency: 50 },
  );

  const workers = handlers.map((handler) => {
    const timeoutMs = handler.timeoutMs ?? DEFAULT_TIMEOUT;
    return new Worker<HandlerJobData>(
      handlerQueueName(handler.name),
      async (job: Job<HandlerJobData>) => {
        const decoded = decodeJob(job.data);
        if (!decoded.known) throw new UnrecoverableError(`event type ${job.data.eventType} is no longer known`);
        const event = decoded.event;
        const attempt = job.attemptsMade + 1;
        const log = logger.child({ eventId: event.event.id, eventType: event.event.type, handler: handler.name, jobId: job.id, attempt });
        const signal = AbortSignal.timeout(timeoutMs);
        const ctx: HandlerContext = {
          logger: log,
          signal,
          attempt,
          idempotencyKey: `${handler.name}:${businessKeyOf(event)}`,
          occurredAt: occurredAtOf(event),
          errors: { PermanentError, RetryLaterError },
        };
        log.debug('handing event to handler');
        try {
          const outcome = await handler.handle(event, ctx);
          return outcome ?? { done: true };
        } catch (err) {
          const error = coerceError(err);
          if (error instanceof PermanentError) throw new UnrecoverableError(error.message);
          throw error;
        }
      },
      {
        connection,
        prefix,
        concurrency: handler.concurrency ?? DEFAULT_CONCURRENCY,
        limiter: handler.rateLimit ? { max: handler.rateLimit.max, duration: handler.rateLimit.durationMs } : undefined,
      },
    );
  });

  for (const w of [intake, ...workers]) {
    w.on('error', (err) => logger.error('worker error', { queue: w.name, error: err.message }));
    w.on('failed', (job, err) =>
      logger.warn('job failed', { queue: w.name, jobId: job?.id, attemptsMade: job?.attemptsMade, error: err.message }),
    );
  }

  return {
    async close() {
      await Promise.all([intake, ...workers].map((w) => w.close()));
      await Promise.all([...handlerQueues.values()].map((q) => q.close()));
    },
  };
}
