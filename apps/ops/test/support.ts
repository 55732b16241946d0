import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { type QueueEvents, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, createLogger, handlerQueueName, INTAKE_QUEUE, MINUTE, type Logger } from '@vouchflow/core';
import { intakeJobOptions, openIntakeQueue, type IntakeJobData } from '@vouchflow/pipeline';
import { PermanentError, type AnyHandler } from '@vouchflow/handler-kit';
import { deletePrefix, testRedisUrl, uniquePrefix, waitForEvent, openQueueEvents } from '@vouchflow/test-support';
import { createWorker, type RunningWorker, type WorkerDeps } from '../../worker/src/create-worker.js';
import type { ProcessRun as OpsRun } from '@vouchflow/test-support';

export const ROOT = resolve(import.meta.dirname, '../../..');
const FIXTURE = resolve(ROOT, 'packages/schema/fixtures/points_added.json');
const seed = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { event: { id: string; type: string }; data: { transaction: { id: string } } };

let counter = 0;

/** A points_added delivery with its own event and transaction ids. */
export function delivery(eventId = `evcus_ops_${process.pid}_${Date.now()}_${counter++}`): IntakeJobData {
  const d = structuredClone(seed);
  d.event.id = eventId;
  d.data.transaction.id = `vtx_${eventId}`;
  return { body: JSON.stringify(d), eventId, eventType: d.event.type, receivedAt: Date.now() };
}

/** A delivery that will never decode: a dead letter of intake. */
export function undecodable(eventId = `evcus_bad_${counter++}`): IntakeJobData {
  const d = structuredClone(seed) as unknown as { data: Record<string, unknown> };
  d.data['balance'] = 'lots';
  return { body: JSON.stringify(d), eventId, eventType: seed.event.type, receivedAt: Date.now() };
}

export const quietLogger = (): Logger => createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

/** A handler with a switch: while `down`, every run fails permanently (a dead letter at once), like a CRM answering 400. */
export function switchableHandler(name: string): AnyHandler & { down: boolean; runs: string[] } {
  const h = {
    name,
    events: ['customer.voucher.loyalty_card.points_added'],
    down: false,
    runs: [] as string[],
    async handle(event: { event: { id: string } }) {
      if (h.down) throw new PermanentError(`${name} is down: 400 Bad Request`);
      h.runs.push(event.event.id);
    },
  };
  return h;
}

/**
 * A deployment under a prefix of its own: the real worker (createWorker, in
 * process) with test handlers, the intake queue to send to, and BullMQ events
 * to wait on.
 */
export class Deployment {
  readonly url = testRedisUrl();
  readonly prefix = uniquePrefix('ops');
  readonly redis = new Redis(this.url, { maxRetriesPerRequest: null });
  readonly intake: Queue<IntakeJobData> = openIntakeQueue({ connection: this.redis, queuePrefix: this.prefix });
  private readonly closers: Array<() => Promise<unknown>> = [];
  private worker: RunningWorker | undefined;

  /** What `pnpm ops` and `pnpm start:admin` need to reach this deployment. */
  get env(): Record<string, string> {
    return { REDIS_URL: this.url, QUEUE_PREFIX: this.prefix };
  }

  async start(handlers: AnyHandler[], deps: Partial<WorkerDeps> = {}): Promise<void> {
    this.worker = createWorker({
      connection: this.redis,
      queuePrefix: this.prefix,
      handlers,
      logger: quietLogger(),
      maxAttempts: 3,
      backoffMs: 10,
      ...deps,
    });
    await this.worker.ready();
  }

  /** Resolves once the worker has seen `handler`'s queue paused (or resumed). Call before the command that does it. */
  sawPause(handler: string, paused: boolean): Promise<void> {
    const worker = this.worker;
    if (!worker) throw new Error('start the deployment first');
    return new Promise((resolve) => {
      const listener = (e: { handler: string; paused: boolean }) => {
        if (e.handler !== handler || e.paused !== paused) return;
        worker.events.off('paused', listener);
        resolve();
      };
      worker.events.on('paused', listener);
    });
  }

  /** As the ingress stores a delivery. */
  async send(d: IntakeJobData): Promise<void> {
    await this.intake.add('delivery', d, intakeJobOptions(d.eventId, randomBytes(6).toString('hex'), 5 * MINUTE));
  }

  /** BullMQ events of `intake` or a handler's queue, on a connection of their own. */
  async events(queue: string): Promise<QueueEvents> {
    const name = queue === INTAKE_QUEUE ? INTAKE_QUEUE : handlerQueueName(queue);
    const qe = await openQueueEvents(this.url, bullPrefix(this.prefix), name);
    this.closers.push(() => qe.close());
    return qe;
  }

  async cleanup(): Promise<void> {
    await this.worker?.close();
    for (const close of this.closers.reverse()) await close();
    await this.intake.close();
    await deletePrefix(this.url, this.prefix);
    await this.redis.quit();
  }
}

/** The shared helper under this file's old name, with the longer default wait the CLI tests need. */
export const waitForEvents = <A extends { jobId: string }>(
  qe: QueueEvents,
  name: 'completed' | 'failed',
  test: (args: A) => boolean = () => true,
  { count = 1, timeoutMs = 20_000 } = {},
): Promise<A[]> => waitForEvent(qe, name, test, { count, timeoutMs });

export { runOps } from '@vouchflow/test-support';
export type { OpsRun };

/** Parses the stdout of a `--json` run, saying what was printed when it is not JSON. */
export function jsonOf<T>(run: OpsRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

export interface AdminProcess {
  base: string;
  logs: Array<Record<string, unknown>>;
  output: string[];
  stop(): Promise<number | null>;
}

/** Runs `pnpm start:admin` (`ops serve`) as a real process and waits until it listens. */
export async function startAdmin(env: Record<string, string>, timeoutMs = 30_000): Promise<AdminProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=@vouchflow/source', '--import', 'tsx', resolve(ROOT, 'apps/ops/src/main.ts'), 'serve'],
    {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NODE_ENV: 'production', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  const output: string[] = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const listening = new Promise<number>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`admin did not listen within ${timeoutMs} ms:\n${output.join('\n')}`)), timeoutMs);
    const onLine = (line: string) => {
      output.push(line);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(parsed);
      if (parsed['message'] === 'admin listening') {
        clearTimeout(timer);
        resolvePromise(Number(parsed['port']));
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`admin exited (code ${code}) before listening:\n${output.join('\n')}`));
    });
  });
  const port = await listening;
  return {
    base: `http://127.0.0.1:${port}`,
    logs,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A request with exactly these headers (Host included), which fetch would not send. */
export function raw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<RawAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { host: url.host, connection: 'close', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A logger whose lines the test reads. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', json: true, stream }), lines };
}
