import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { Queue, type QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, createLogger, handlerQueueName, INTAKE_QUEUE, type Logger } from '@vouchflow/core';
import { intakeJobId, openIntakeQueue, type IntakeJobData } from '@vouchflow/pipeline';
import type { AnyHandler, HandlerContext } from '@vouchflow/handler-kit';
import { deletePrefix, testRedisUrl, uniquePrefix, waitForEvent, openQueueEvents } from '@vouchflow/test-support';
import { createWorker, type RunningWorker, type SettledUnit, type WorkerDeps } from '../src/create-worker.js';

const FIXTURE = resolve(import.meta.dirname, '../../../packages/schema/fixtures/points_added.json');
const seed = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- surgery on fixture JSON
type Loose = Record<string, any>;

let counter = 0;

/** A points_added delivery with its own event id and transaction id (or the ones given). */
export function delivery(
  opts: { eventId?: string; transactionId?: string; type?: string; mutate?: (d: Loose) => void } = {},
): IntakeJobData {
  const d = structuredClone(seed) as Loose;
  const n = `${process.pid}_${Date.now()}_${counter++}`;
  d['event']['id'] = opts.eventId ?? `evcus_${n}`;
  if (opts.type) d['event']['type'] = opts.type;
  d['data']['transaction']['id'] = opts.transactionId ?? `vtx_${n}`;
  opts.mutate?.(d);
  return { body: JSON.stringify(d), eventId: d['event']['id'], eventType: d['event']['type'], receivedAt: Date.now() };
}

/** A logger that keeps quiet unless DEBUG_TESTS is set. */
export const quietLogger = (): Logger => createLogger({ level: 'debug', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

/** Everything a test opens, closed by `cleanup()`. */
export class Harness {
  readonly url = testRedisUrl();
  readonly prefix = uniquePrefix('w');
  readonly redis = new Redis(this.url, { maxRetriesPerRequest: null });
  readonly intake: Queue<IntakeJobData>;
  private readonly closers: Array<() => Promise<unknown>> = [];

  constructor() {
    this.intake = openIntakeQueue({ connection: this.redis, queuePrefix: this.prefix });
  }

  async start(handlers: AnyHandler[], deps: Partial<WorkerDeps> = {}): Promise<RunningWorker> {
    const worker = createWorker({
      connection: this.redis,
      queuePrefix: this.prefix,
      handlers,
      logger: quietLogger(),
      maxAttempts: 8,
      backoffMs: 10,
      lockDurationMs: 5000,
      stalledIntervalMs: 1000,
      // As the worker app runs; tests of the queue-only path pass false.
      inlineFirstTry: true,
      ...deps,
    });
    this.closers.push(() => worker.close());
    await worker.ready();
    return worker;
  }

  async send(d: IntakeJobData): Promise<void> {
    await this.intake.add('delivery', d, { jobId: intakeJobId(d.eventId) });
  }

  /** Real BullMQ events of a queue (`intake` or a handler name). */
  async events(queue: string): Promise<QueueEvents> {
    const name = queue === INTAKE_QUEUE ? INTAKE_QUEUE : handlerQueueName(queue);
    const qe = await openQueueEvents(this.url, bullPrefix(this.prefix), name);
    this.closers.push(() => qe.close());
    return qe;
  }

  handlerQueue(name: string): Queue {
    const q = new Queue(handlerQueueName(name), { connection: this.redis, prefix: bullPrefix(this.prefix) });
    this.closers.push(() => q.close());
    return q;
  }

  onClose(fn: () => Promise<unknown>): void {
    this.closers.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const close of this.closers.reverse()) await close();
    await this.intake.close();
    await deletePrefix(this.url, this.prefix);
    await this.redis.quit();
  }
}

export { waitForEvent };

/** A handler whose `handle` runs `fn`, recording each call. */
export function testHandler(
  name: string,
  fn: (ctx: HandlerContext, call: number) => unknown = () => undefined,
  extra: Partial<AnyHandler> = {},
): AnyHandler & { calls: Array<{ at: number; ctx: HandlerContext; eventId: string }> } {
  const calls: Array<{ at: number; ctx: HandlerContext; eventId: string }> = [];
  return {
    name,
    events: ['customer.voucher.loyalty_card.points_added', 'voucher.loyalty_card.points_added'],
    calls,
    async handle(event, ctx) {
      calls.push({ at: Date.now(), ctx, eventId: event.event.id });
      await fn(ctx, calls.length);
    },
    ...extra,
  };
}

/** Resolves with the first `count` units of `handler` that end well (inline or from the queue). */
export function settled(worker: RunningWorker, handler: string, { count = 1, timeoutMs = 15_000 } = {}): Promise<SettledUnit[]> {
  return new Promise((resolvePromise, reject) => {
    const seen: SettledUnit[] = [];
    const listener = (unit: SettledUnit) => {
      if (unit.handler !== handler) return;
      seen.push(unit);
      if (seen.length >= count) {
        clearTimeout(timer);
        worker.events.off('settled', listener);
        resolvePromise(seen);
      }
    };
    const timer = setTimeout(() => {
      worker.events.off('settled', listener);
      reject(new Error(`no ${count} settled units of ${handler} within ${timeoutMs} ms (saw ${seen.length})`));
    }, timeoutMs);
    worker.events.on('settled', listener);
  });
}
