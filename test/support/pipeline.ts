/*
 * Helpers of the chaos, soak and cluster tests: the real ingress and workers
 * as processes, a load generator that remembers which events were
 * acknowledged, and the effect ledger the counting handler writes
 * (test/fixtures/counting-handler.ts) in a Redis the tests never crash.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { bullPrefix, handlerQueueName, INTAKE_QUEUE, type RedisClient } from '@vouchflow/core';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import {
  deletePrefix,
  freePort,
  startApp,
  startRedisServer,
  testRedisUrl,
  uniquePrefix,
  type AppProcess,
  type LogLine,
  type RedisServer,
  type RedisServerOptions,
} from '@vouchflow/test-support';

export const SECRET = 'chaos-secret-0123456789';
export const HANDLERS = ['count-a', 'count-b'] as const;
export const COUNTING_HANDLER = resolve(import.meta.dirname, '../fixtures/counting-handler.ts');

/** Set CHAOS_LONG=1 for the long variants (docs/testing.md). */
export const LONG = process.env['CHAOS_LONG'] === '1';
/** How long to wait for every acknowledged event's effects once sending stopped (the long runs leave big backlogs). */
export const SETTLE_MS = LONG ? 600_000 : 90_000;

const seed = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../packages/schema/fixtures/points_added.json'), 'utf8')) as {
  event: Record<string, unknown>;
  data: { transaction: Record<string, unknown> } & Record<string, unknown>;
} & Record<string, unknown>;

/** The seed delivery with its own event id and its own transaction id (the once-only key), as compact JSON. */
export function deliveryBody(eventId: string, transactionId = `vtx_${eventId}`): string {
  return JSON.stringify({
    ...seed,
    event: { ...seed.event, id: eventId },
    data: { ...seed.data, transaction: { ...seed.data.transaction, id: transactionId } },
  });
}

/** Prints one figure line, easy to find in the test output. */
export function report(test: string, figures: Record<string, unknown>): void {
  console.log(`[chaos-figures] ${test} ${JSON.stringify(figures)}`);
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs` naming `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---------------------------------------------------------------------------
// HTTP

export interface Answer {
  status: number;
  ms: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A keep-alive HTTP client whose sockets `close()` destroys. Network errors resolve as status 0. */
export class HttpClient {
  private readonly agent: Agent;
  constructor(
    public base: string,
    { keepAlive = true }: { keepAlive?: boolean } = {},
  ) {
    this.agent = new Agent({ keepAlive, maxSockets: 64 });
  }

  send(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<Answer> {
    return new Promise((resolvePromise) => {
      const started = performance.now();
      let settled = false;
      const done = (status: number, text = '', resHeaders: Answer['headers'] = {}) => {
        if (settled) return;
        settled = true;
        resolvePromise({ status, ms: performance.now() - started, body: text, headers: resHeaders });
      };
      const req = request(new URL(path, this.base), { method, agent: this.agent, headers, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        // A reset after the status line arrived (the server answered before reading the whole body) keeps the status.
        res.on('error', () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), res.headers));
        res.on('aborted', () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), res.headers));
        res.on('end', () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), res.headers));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => done(0, `${(err as Error & { code?: string }).code ?? ''} ${err.message}`));
      req.end(body);
    });
  }

  get(path: string): Promise<Answer> {
    return this.send('GET', path);
  }

  /** POSTs a delivery signed with `secret`. */
  deliver(body: string, secret = SECRET, timeoutMs?: number): Promise<Answer> {
    return this.send(
      'POST',
      '/webhooks/voucherify',
      body,
      { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, secret) },
      timeoutMs,
    );
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------
// Load

export interface LoadOptions {
  /** Stop after this many distinct events (retries of refused ones not counted). */
  count?: number;
  /** Stop when this returns true. */
  until?: () => boolean;
  /** Requests in flight at once. @defaultValue 16 */
  concurrency?: number;
  /** Events per second; unset: as fast as the ingress answers. */
  ratePerSec?: number;
  /** Builds the event id of the n-th event. */
  eventId?: (n: number) => string;
  /**
   * Every n-th event is followed by its twin: another event id (`<id>-twin`)
   * for the same business fact (the same `data.transaction.id`), as when a
   * distribution and a project webhook both report one loyalty transaction.
   */
  twinEvery?: number;
}

/** The transaction id (business fact) of an event the load generator sent. */
export const transactionOf = (eventId: string): string => `vtx_${eventId.endsWith(TWIN) ? eventId.slice(0, -TWIN.length) : eventId}`;
const TWIN = '-twin';

/**
 * Sends distinct signed deliveries and remembers the answer to each: an event
 * answered 2XX (202 accepted, 200 duplicate) is acknowledged, so Voucherify
 * would never send it again and the pipeline owes its effects. Anything else
 * (503, a reset connection) is refused: Voucherify would retry it, which
 * `resendRefused` does.
 */
export class Load {
  readonly acked = new Set<string>();
  readonly refused = new Set<string>();
  readonly statuses = new Map<number, number>();
  /** Slowest answer per status, in ms (status 0: a network error). */
  readonly slowest = new Map<number, number>();
  sent = 0;
  private n = 0;
  private stopped = false;

  constructor(
    public client: HttpClient,
    private readonly label: string,
  ) {}

  private nextId(custom?: (n: number) => string): { id: string; n: number } {
    const n = this.n++;
    return { id: custom ? custom(n) : `evcus_${this.label}_${n}`, n };
  }

  /** Sends one delivery and books its answer. */
  async one(eventId: string): Promise<Answer> {
    const answer = await this.client.deliver(deliveryBody(eventId, transactionOf(eventId)));
    this.sent++;
    this.statuses.set(answer.status, (this.statuses.get(answer.status) ?? 0) + 1);
    this.slowest.set(answer.status, Math.max(this.slowest.get(answer.status) ?? 0, answer.ms));
    if (answer.status >= 200 && answer.status < 300) {
      this.acked.add(eventId);
      this.refused.delete(eventId);
    } else if (!this.acked.has(eventId)) this.refused.add(eventId);
    return answer;
  }

  stop(): void {
    this.stopped = true;
  }

  async run(options: LoadOptions): Promise<void> {
    const { count = Infinity, until = () => false, concurrency = 16, ratePerSec } = options;
    const started = performance.now();
    let issued = 0;
    const more = () => !this.stopped && issued < count && !until();
    const lane = async () => {
      while (more()) {
        if (ratePerSec !== undefined) {
          const due = started + (issued / ratePerSec) * 1000;
          const wait = due - performance.now();
          if (wait > 0) {
            await new Promise((r) => setTimeout(r, wait));
            if (!more()) return;
          }
        }
        issued++;
        const { id, n } = this.nextId(options.eventId);
        await this.one(id);
        if (options.twinEvery && n % options.twinEvery === 0) await this.one(`${id}${TWIN}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
  }

  /** Sends the refused events again until each is acknowledged (what Voucherify's retries do). */
  async resendRefused(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.refused.size > 0) {
      if (Date.now() > until) throw new Error(`${this.refused.size} refused deliveries still not acknowledged after ${timeoutMs} ms`);
      const batch = [...this.refused].slice(0, 200);
      await Promise.all(batch.map((id) => this.one(id)));
      if (this.refused.size > 0) await new Promise((r) => setTimeout(r, 200));
    }
  }

  statusSummary(): Record<string, number> {
    return Object.fromEntries([...this.statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n]));
  }
}

// ---------------------------------------------------------------------------
// Effects

export interface EffectTally {
  /** Acknowledged events checked (per handler). */
  expected: number;
  /** (event, handler) pairs acknowledged but never done. */
  lost: number;
  /** Effects done more than once, summed over handlers (each extra run counts one). */
  duplicates: number;
  /** duplicates / (expected × handlers), in percent. */
  duplicatePercent: number;
  lostExamples: string[];
}

/** Reads the effect ledger of the counting handler. */
export class Effects {
  constructor(
    readonly redis: Redis,
    readonly key: string,
  ) {}

  async counts(handler: string): Promise<Map<string, number>> {
    const all = await this.redis.hgetall(`${this.key}:effects:${handler}`);
    return new Map(Object.entries(all).map(([id, n]) => [id, Number(n)]));
  }

  async tries(handler: string, eventId: string): Promise<number> {
    return Number((await this.redis.hget(`${this.key}:tries:${handler}`, eventId)) ?? 0);
  }

  async tally(ids: Iterable<string>, handlers: readonly string[] = HANDLERS): Promise<EffectTally> {
    return this.tallyLedger('effects', new Set(ids), handlers);
  }

  /**
   * Like `tally`, per business fact: each transaction of the acknowledged
   * events (twins share one) must have had each handler's effect exactly once.
   */
  async tallyFacts(eventIds: Iterable<string>, handlers: readonly string[] = HANDLERS): Promise<EffectTally> {
    return this.tallyLedger('facts', new Set([...eventIds].map(transactionOf)), handlers);
  }

  /** Lost (0 effects) and duplicated (more than 1) entries of one ledger, over `ids` × `handlers`. */
  private async tallyLedger(ledger: 'effects' | 'facts', ids: ReadonlySet<string>, handlers: readonly string[]): Promise<EffectTally> {
    let lost = 0;
    let duplicates = 0;
    const lostExamples: string[] = [];
    for (const handler of handlers) {
      const all = await this.redis.hgetall(`${this.key}:${ledger}:${handler}`);
      for (const id of ids) {
        const n = Number(all[id] ?? 0);
        if (n === 0) {
          lost++;
          if (lostExamples.length < 10) lostExamples.push(`${handler}/${id}`);
        } else duplicates += n - 1;
      }
    }
    const pairs = ids.size * handlers.length;
    return { expected: ids.size, lost, duplicates, duplicatePercent: pairs === 0 ? 0 : (100 * duplicates) / pairs, lostExamples };
  }

  /** Waits until every id has each handler's effect (or the deadline), then tallies. */
  settle(ids: Iterable<string>, timeoutMs: number, handlers: readonly string[] = HANDLERS): Promise<EffectTally> {
    const list = [...ids];
    return this.settleWith(() => this.tally(list, handlers), timeoutMs);
  }

  /** Waits until every business fact has each handler's effect (or the deadline), then tallies. */
  settleFacts(eventIds: Iterable<string>, timeoutMs: number, handlers: readonly string[] = HANDLERS): Promise<EffectTally> {
    const list = [...eventIds];
    return this.settleWith(() => this.tallyFacts(list, handlers), timeoutMs);
  }

  private async settleWith(tally: () => Promise<EffectTally>, timeoutMs: number): Promise<EffectTally> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const result = await tally();
      if (result.lost === 0 || Date.now() > until) return result;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async cleanup(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.key}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await this.redis.unlink(...keys);
    } while (cursor !== '0');
  }
}

// ---------------------------------------------------------------------------
// Processes

export interface StackOptions {
  /** What the apps connect to (comma-separated seeds for a cluster). */
  redisUrl: string;
  cluster?: boolean;
  queuePrefix: string;
  /** Where the counting handler records effects: a Redis the test does not crash. */
  effectsUrl: string;
  effectsKey: string;
  ingressEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

/** The real ingress and any number of workers, as processes; `close()` kills whatever is still running. */
export class Stack {
  readonly workers: AppProcess[] = [];
  ingress: AppProcess | undefined;
  port = 0;
  private readonly all: AppProcess[] = [];
  private readonly ended = new Set<AppProcess>();

  constructor(readonly options: StackOptions) {}

  /** The ingress's metrics port (loopback), kept across restarts like `port`. */
  metricsPort = 0;

  get metricsBase(): string {
    return `http://127.0.0.1:${this.metricsPort}`;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private common(): Record<string, string> {
    return {
      REDIS_URL: this.options.redisUrl,
      REDIS_CLUSTER: this.options.cluster ? 'true' : 'false',
      QUEUE_PREFIX: this.options.queuePrefix,
      LOG_LEVEL: 'info',
    };
  }

  /** Starts the ingress (on the same port as before when restarted) and waits until it listens. */
  async startIngress(): Promise<AppProcess> {
    if (this.port === 0) this.port = await freePort();
    if (this.metricsPort === 0) this.metricsPort = await freePort();
    const app = startApp('ingress', {
      ...this.common(),
      PORT: String(this.port),
      INGRESS_METRICS_PORT: String(this.metricsPort),
      VOUCHERIFY_WEBHOOK_SECRET: SECRET,
      ...this.options.ingressEnv,
    });
    this.all.push(app);
    this.ingress = app;
    await app.waitForLog((l) => l.message === 'ingress listening', 30_000);
    return app;
  }

  /** Starts one more worker and waits until it has started. */
  async startWorker(extraEnv: Record<string, string> = {}): Promise<AppProcess> {
    const app = startApp('worker', {
      ...this.common(),
      HANDLERS: COUNTING_HANDLER,
      METRICS_PORT: '0',
      BACKOFF_MS: '100',
      // A killed worker's jobs are back to work within seconds (the default is 30 s + 2 × 15 s); 5 s rather
      // than less so that a live worker on a busy 2-core CI machine does not lose its locks.
      LOCK_DURATION_MS: '5000',
      STALLED_INTERVAL_MS: '500',
      CHAOS_EFFECTS_URL: this.options.effectsUrl,
      CHAOS_KEY: this.options.effectsKey,
      ...this.options.workerEnv,
      ...extraEnv,
    });
    this.all.push(app);
    this.workers.push(app);
    await app.waitForLog((l) => l.message === 'worker started', 45_000);
    return app;
  }

  /** SIGKILLs a worker and forgets it. */
  async killWorker(app: AppProcess): Promise<void> {
    this.ended.add(app);
    await app.kill();
    this.workers.splice(this.workers.indexOf(app), 1);
  }

  /** SIGKILLs the ingress (it is restarted with `startIngress`, on the same port). */
  async killIngress(): Promise<void> {
    if (!this.ingress) return;
    this.ended.add(this.ingress);
    await this.ingress.kill();
    this.ingress = undefined;
  }

  /** Sends `signal` (SIGTERM: a graceful stop) and resolves with the exit code; the app is forgotten. */
  async stopApp(app: AppProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.ended.add(app);
    const code = await app.stop(signal, 60_000);
    const i = this.workers.indexOf(app);
    if (i >= 0) this.workers.splice(i, 1);
    if (app === this.ingress) this.ingress = undefined;
    return code;
  }

  /** Apps that exited although the test neither killed nor stopped them: crashes, with their last output. */
  unexpectedExits(): string[] {
    return this.all
      .filter((app) => !this.ended.has(app) && (app.process.exitCode !== null || app.process.signalCode !== null))
      .map(
        (app) =>
          `pid ${app.process.pid} exited (${app.process.exitCode ?? app.process.signalCode}): ${app.otherOutput.slice(-20).join('\n')}`,
      );
  }

  /** Every app ever started and still running is killed. */
  async close(): Promise<void> {
    await Promise.all(this.all.map((app) => app.kill()));
  }

  /** Log lines of every app ever started, killed ones included. */
  lines(): LogLine[] {
    return this.all.flatMap((app) => app.lines);
  }

  /** Output that is not a JSON log line (a crash, or a library writing to the console), of every app. */
  nonJsonOutput(): string[] {
    return this.all.flatMap((app) => app.otherOutput);
  }

  /** The non-JSON output of each app, labelled (for diagnosing). */
  otherOutput(): Array<{ app: string; pid: number | undefined; output: string[] }> {
    return this.all.map((app) => ({
      app: app === this.ingress || app.lines.some((l) => l['app'] === 'ingress') ? 'ingress' : 'worker',
      pid: app.process.pid,
      output: app.otherOutput,
    }));
  }

  /** Log lines of every app at level error. */
  errors(): string[] {
    return this.all.flatMap((app) => app.lines.filter((l) => l.level === 'error').map((l) => JSON.stringify(l)));
  }
}

// ---------------------------------------------------------------------------
// Queues

/** Counts what is still waiting or running in the intake and handler queues. */
export class Backlog {
  private readonly queues: Queue[];
  constructor(
    readonly connection: RedisClient,
    queuePrefix: string,
  ) {
    const prefix = bullPrefix(queuePrefix);
    this.queues = [INTAKE_QUEUE, ...HANDLERS.map(handlerQueueName)].map((name) => new Queue(name, { connection, prefix }));
  }

  /** Jobs waiting, delayed or active, per queue. */
  async read(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const q of this.queues) {
      const c = await q.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'waiting-children');
      out[q.name] = Object.values(c).reduce((a, b) => a + b, 0);
    }
    return out;
  }

  /** Jobs running right now (locked by a worker), over every queue. */
  async active(): Promise<number> {
    let n = 0;
    for (const q of this.queues) n += await q.getActiveCount();
    return n;
  }

  async total(): Promise<number> {
    return Object.values(await this.read()).reduce((a, b) => a + b, 0);
  }

  async failed(queueName: string): Promise<number> {
    const q = this.queues.find((x) => x.name === queueName);
    return q ? q.getFailedCount() : 0;
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
  }

  /** Polls until no job waits or runs in any queue; false never comes back (a timeout throws). */
  drained(timeoutMs = 30_000, what = 'queues drained'): Promise<boolean> {
    return eventually(what, async () => ((await this.total()) === 0 ? true : undefined), timeoutMs);
  }

  /** Polls until some job is running (a worker is busy). */
  async busy(): Promise<void> {
    await eventually('jobs running', async () => ((await this.active()) > 0 ? true : undefined), 30_000, 20);
  }
}

// ---------------------------------------------------------------------------
// One test's pipeline: setup, teardown, counting

/** Waits until `load` has at least `n` acknowledged events. */
export async function acked(load: Load, n: number, timeoutMs: number, what = `${n} acknowledged`): Promise<void> {
  await eventually(what, () => (load.acked.size >= n ? true : undefined), timeoutMs);
}

export interface StartOptions {
  /** Prefix of the load generator's event ids: `evcus_<queuePrefix>_<label>_<n>`. */
  label: string;
  /** What the apps connect to. @defaultValue the shared test Redis (its queues are deleted afterwards) */
  redisUrl?: string;
  cluster?: boolean;
  /** Workers started (at once) after the ingress. @defaultValue 1 */
  workers?: number;
  ingressEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

export interface Started {
  stack: Stack;
  client: HttpClient;
  load: Load;
  ingress: AppProcess;
  workers: AppProcess[];
}

/**
 * The pipeline of one test file: a unique queue prefix, the effect ledger in
 * the shared test Redis, and (once `start`ed) the real ingress and workers,
 * an HTTP client and a load generator. Create it in the `describe` and call
 * `close()` in `afterAll`: it stops and closes everything this created or was
 * handed with `defer`, each step even when an earlier one failed.
 */
export class Pipeline {
  /** The shared test Redis: the effect ledger, and the apps' Redis unless `start` is given another. */
  readonly url = testRedisUrl();
  readonly queuePrefix: string;
  readonly effects: Effects;
  stack: Stack | undefined;
  client: HttpClient | undefined;
  load: Load | undefined;
  private readonly backlogs: Backlog[] = [];
  private readonly connections: Array<{ redis: Redis; shared: boolean }> = [];
  private readonly deferred: Array<() => unknown> = [];
  private queuesOnSharedRedis = false;
  private redisServer: RedisServer | undefined;

  constructor(prefixLabel: string) {
    this.queuePrefix = uniquePrefix(prefixLabel);
    this.effects = new Effects(this.connect(this.url), `chaos:${this.queuePrefix}`);
  }

  /** A Redis connection closed by `close()` (`quit` on the shared test Redis, `disconnect` elsewhere: it may be dead). */
  connect(url: string): Redis {
    const redis = new Redis(url, { maxRetriesPerRequest: null });
    this.connections.push({ redis, shared: url === this.url });
    return redis;
  }

  /** A backlog of this pipeline's queues over `connection` (default: a new one to the shared test Redis). */
  backlog(connection: Redis = this.connect(this.url)): Backlog {
    const backlog = new Backlog(connection, this.queuePrefix);
    this.backlogs.push(backlog);
    return backlog;
  }

  /**
   * Starts a private redis-server for the apps, which `close()` stops. Started again (after a kill, on the same
   * port and data directory) it replaces the previous one.
   */
  async startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
    this.redisServer = await startRedisServer(options);
    return this.redisServer;
  }

  /** Registers a teardown step (a Redis server to stop, a store to close); they run last in, first out, after the apps stop. */
  defer(step: () => unknown): void {
    this.deferred.push(step);
  }

  /** Starts the ingress, then the workers (at once), and an HTTP client and a load generator on the ingress. */
  async start(options: StartOptions): Promise<Started> {
    const redisUrl = options.redisUrl ?? this.url;
    if (redisUrl === this.url) this.queuesOnSharedRedis = true;
    const stack = new Stack({
      redisUrl,
      cluster: options.cluster,
      queuePrefix: this.queuePrefix,
      effectsUrl: this.url,
      effectsKey: this.effects.key,
      ingressEnv: options.ingressEnv,
      workerEnv: options.workerEnv,
    });
    this.stack = stack;
    const ingress = await stack.startIngress();
    const workers = await Promise.all(Array.from({ length: options.workers ?? 1 }, () => stack.startWorker()));
    const client = new HttpClient(stack.base);
    this.client = client;
    const load = new Load(client, `${this.queuePrefix}_${options.label}`);
    this.load = load;
    return { stack, client, load, ingress, workers };
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    const step = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    await step(() => this.load?.stop());
    await step(() => this.client?.close());
    await step(() => this.stack?.close());
    for (const backlog of this.backlogs) await step(() => backlog.close());
    for (const { redis, shared } of this.connections) if (!shared) await step(() => redis.disconnect());
    await step(() => this.redisServer?.stop());
    for (const fn of [...this.deferred].reverse()) await step(fn);
    await step(() => this.effects.cleanup());
    if (this.queuesOnSharedRedis) await step(() => deletePrefix(this.url, this.queuePrefix));
    await step(() => Promise.all(this.connections.filter((c) => c.shared).map((c) => c.redis.quit())));
    if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateError(errors, 'pipeline teardown failed');
  }
}

/** The loss figures of a `[chaos-figures]` line. */
export function lossFigures(tally: EffectTally, withPercent = false): Record<string, number> {
  return {
    lost: tally.lost,
    duplicates: tally.duplicates,
    ...(withPercent ? { duplicatePercent: Number(tally.duplicatePercent.toFixed(3)) } : {}),
  };
}

/**
 * Every acknowledged event (or fact) had each handler's effect; duplicates: none, or at most
 * `maxDuplicatePercent` percent (at-least-once under SIGKILL).
 */
export function expectNoLoss(tally: EffectTally, maxDuplicatePercent?: number): void {
  expect(tally.lostExamples).toEqual([]);
  expect(tally.lost).toBe(0);
  if (maxDuplicatePercent === undefined) expect(tally.duplicates).toBe(0);
  else expect(tally.duplicatePercent).toBeLessThanOrEqual(maxDuplicatePercent);
}

/** While Redis was unusable the ingress refused with 503 within 3 s, and never answered another 5XX. */
export function expectFast503s(load: Load): void {
  expect(load.slowest.get(503) ?? 0).toBeLessThan(3000);
  expect([...load.statuses.keys()].filter((s) => s >= 500 && s !== 503)).toEqual([]);
}
