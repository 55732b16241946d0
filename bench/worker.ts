/*
 * `pnpm bench worker`: events per second drained by the worker app as a user
 * runs it (the compiled build, as `pnpm start:worker` runs it, built first),
 * every setting at its default, two no-op plugin handlers loaded through
 * HANDLERS from bench/_noop-handlers.mjs) against a bare BullMQ worker running
 * no-op jobs of the same payload, in the same run, on the same private
 * redis-server, with the same concurrency (the worker's INTAKE_CONCURRENCY
 * default, 50). Both sides start with a full queue (filled before the clock
 * starts; the worker waits on a paused queue) and are timed until the last
 * job is completed. Each side is one long-lived process across the rounds, as
 * a deployed worker is (the bare worker runs in this process): the worker
 * app is started once, and each round pauses its queue, fills it and resumes
 * it. Rounds alternate baseline and worker; the best round of each is reported.
 *
 * Ratio = worker events/s ÷ bare jobs/s. An event is one intake job whose
 * first try of each handler runs inline, plus the once-only claim and record
 * of each unit and the delivery index: 0.5 means an event with two side
 * effects costs no more than two bare jobs. Handler jobs left behind (units
 * that spilled into their handler's queue) are counted and must be 0. Redis
 * CPU and the worker process's CPU per phase are printed too.
 *
 * Options: --events=N per round (default 4000), --rounds=N (default 5: a
 * deployed worker runs warm, and both sides were still getting faster at
 * round 3),
 * --concurrency=N of the bare worker (default 50, the worker's default).
 * Diagnostics (environment): BENCH_NODE_OPTIONS for the worker process (an
 * `--import` hook gets SIGUSR2 at each round's start, e.g. to start a CPU
 * profile), BENCH_COMMANDSTATS=1 prints Redis's command stats of each side,
 * BENCH_THREADS=1 the worker's CPU per thread and its read and write system calls per event.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, handlerQueueName, INTAKE_QUEUE } from '@vouchflow/core';
import { intakeJobId, type IntakeJobData } from '@vouchflow/pipeline';
import { freePort, startApp, startRedisServer, type AppProcess } from '@vouchflow/test-support';
import { buildApps } from './_build.js';
import { recordRatio } from './_results.js';

const { values } = parseArgs({
  // `pnpm bench worker -- --rounds=3` passes the `--` along.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    events: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '50' },
  },
});
const EVENTS = Number(values.events);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const NOOP_HANDLERS = resolve(import.meta.dirname, '_noop-handlers.mjs');
const SEED = resolve(import.meta.dirname, '../packages/schema/fixtures/points_added.json');
const seed = JSON.parse(readFileSync(SEED, 'utf8')) as { event: { id: string; type: string }; data: { transaction: { id: string } } };

function deliveries(round: string): IntakeJobData[] {
  return Array.from({ length: EVENTS }, (_, i) => {
    const d = structuredClone(seed);
    d.event.id = `evcus_${round}_${i}`;
    d.data.transaction.id = `vtx_${round}_${i}`;
    return { body: JSON.stringify(d), eventId: d.event.id, eventType: d.event.type, receivedAt: Date.now() };
  });
}

async function fill(queue: Queue, jobs: IntakeJobData[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += 500) {
    await queue.addBulk(jobs.slice(i, i + 500).map((data) => ({ name: 'delivery', data, opts: { jobId: intakeJobId(data.eventId) } })));
  }
}

/** Polls (every 5 ms: this is a measurement's tail, not a correctness check) until `queue` holds no job still to run. */
async function drained(queue: Queue): Promise<void> {
  const left = async () => Object.values(await queue.getJobCounts('wait', 'prioritized', 'active', 'delayed')).reduce((a, b) => a + b, 0);
  while ((await left()) > 0) await new Promise((r) => setTimeout(r, 5));
}

async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

/** CPU seconds a child process (all its threads), or with `mainThread` its event loop's thread alone, has used so far (utime + stime from /proc, in clock ticks of 10 ms). */
function childCpu(pid: number, mainThread = false): number {
  const fields = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8')
    .split(') ')[1]!
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds this process used since `since` (the bench, its workers and BullMQ all run in it). */
function nodeCpu(since: NodeJS.CpuUsage): string {
  const { user, system } = process.cpuUsage(since);
  return ((user + system) / 1e6).toFixed(2);
}

async function bare(redis: Redis, round: string): Promise<number> {
  const prefix = bullPrefix(`bench-bare-${round}`);
  const queue = new Queue('bare', { connection: redis, prefix });
  await fill(queue, deliveries(round));
  const cpu0 = await redisCpu(redis);
  const node0 = process.cpuUsage();
  let done = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((r) => (finished = r));
  const started = performance.now();
  if (process.env['BENCH_COMMANDSTATS']) await redis.config('RESETSTAT');
  const worker = new Worker('bare', async () => ({ done: true }), { connection: redis, prefix, concurrency: CONCURRENCY });
  worker.on('completed', () => {
    if (++done >= EVENTS) finished();
  });
  await allDone;
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `    bare: ${seconds.toFixed(2)} s, redis cpu ${((await redisCpu(redis)) - cpu0).toFixed(2)} s, node cpu ${nodeCpu(node0)} s`,
  );
  if (process.env['BENCH_COMMANDSTATS']) console.log(await redis.info('commandstats'));
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return EVENTS / seconds;
}

/** Read and write system calls a process made so far (/proc/<pid>/io). */
function syscalls(pid: number): { syscr: number; syscw: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const get = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(io)?.[1] ?? 0);
  return { syscr: get('syscr'), syscw: get('syscw') };
}

/** Per-thread CPU seconds of a process so far (BENCH_THREADS=1): the event loop, V8's GC and compiler helpers, the deflate thread. */
function threadCpu(pid: number): string {
  return readdirSync(`/proc/${pid}/task`)
    .map((tid) => {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return `${tid}=${((Number(f[11]) + Number(f[12])) / 100).toFixed(2)}`;
    })
    .join(' ');
}

/**
 * The worker app, one process for every round (as the bare worker is one
 * process, this one): started as a user starts it, then fed round by round.
 */
class WorkerApp {
  static readonly QUEUE_PREFIX = 'bench-worker';
  private readonly prefix = bullPrefix(WorkerApp.QUEUE_PREFIX);
  private readonly intake: Queue;
  private readonly handlerQueues: Queue[];

  private constructor(
    private readonly redis: Redis,
    readonly app: AppProcess,
  ) {
    this.intake = new Queue(INTAKE_QUEUE, { connection: redis, prefix: this.prefix });
    this.handlerQueues = ['noop-a', 'noop-b'].map((h) => new Queue(handlerQueueName(h), { connection: redis, prefix: this.prefix }));
  }

  static async start(redis: Redis, url: string): Promise<WorkerApp> {
    // The worker process waits on a paused queue, so each round's clock starts with a full queue and a ready worker.
    await new Queue(INTAKE_QUEUE, { connection: redis, prefix: bullPrefix(WorkerApp.QUEUE_PREFIX) }).pause();
    buildApps();
    const app = startApp(
      'worker',
      {
        REDIS_URL: url,
        QUEUE_PREFIX: WorkerApp.QUEUE_PREFIX,
        HANDLERS: NOOP_HANDLERS,
        LOG_LEVEL: 'info',
        ...(process.env['BENCH_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['BENCH_NODE_OPTIONS'] } : {}),
        METRICS_PORT: String(await freePort()),
      },
      { compiled: true },
    );
    await app.waitForLog((l) => l.message === 'worker started', 60_000);
    return new WorkerApp(redis, app);
  }

  async round(round: string): Promise<number> {
    const { redis, intake } = this;
    const pid = this.app.process.pid!;
    await intake.pause();
    await fill(intake, deliveries(round));
    const cpu0 = await redisCpu(redis);
    const worker0 = childCpu(pid);
    const io0 = syscalls(pid);
    const loop0 = childCpu(pid, true);
    // Profiling (BENCH_NODE_OPTIONS=--import=<hook>): the hook starts its profiler on SIGUSR2, at the clock's start.
    if (process.env['BENCH_NODE_OPTIONS']?.includes('--import')) process.kill(pid, 'SIGUSR2');
    if (process.env['BENCH_COMMANDSTATS']) await redis.config('RESETSTAT');
    const started = performance.now();
    await intake.resume();
    // Done when every delivery is through intake (units that succeed at once have no job of their own;
    // completed intake jobs are removed, their deliveries kept as compact records).
    await drained(intake);
    const seconds = (performance.now() - started) / 1000;
    const spilled = (
      await Promise.all(this.handlerQueues.map((q) => q.getJobCountByTypes('wait', 'active', 'delayed', 'completed', 'failed')))
    ).reduce((a, b) => a + b, 0);
    if (process.env['BENCH_COMMANDSTATS']) console.log(await redis.info('commandstats'));
    console.log(
      `    vouchflow: ${seconds.toFixed(2)} s, redis cpu ${((await redisCpu(redis)) - cpu0).toFixed(2)} s, worker process cpu ${(childCpu(pid) - worker0).toFixed(2)} s (event loop ${(childCpu(pid, true) - loop0).toFixed(2)} s), handler jobs ${spilled}`,
    );
    if (process.env['BENCH_THREADS']) {
      const io = syscalls(pid);
      console.log(`    worker threads' cpu since start: ${threadCpu(pid)}`);
      console.log(
        `    system calls per event: ${((io.syscr - io0.syscr) / EVENTS).toFixed(2)} reads, ${((io.syscw - io0.syscw) / EVENTS).toFixed(2)} writes`,
      );
    }
    if (spilled > 0) spills += spilled;
    return EVENTS / seconds;
  }

  async stop(): Promise<void> {
    await this.app.stop('SIGTERM', 30_000);
    for (const q of [this.intake, ...this.handlerQueues]) {
      await q.obliterate({ force: true });
      await q.close();
    }
    await this.redis.eval(`for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end`, 0, `${this.prefix}*`);
  }
}

let spills = 0;

const server = await startRedisServer();
const redis = new Redis(server.url, { maxRetriesPerRequest: null });
try {
  console.log(`${EVENTS} events per round, ${ROUNDS} rounds, concurrency ${CONCURRENCY}, redis-server on :${server.port}`);
  const bareRates: number[] = [];
  const workerRates: number[] = [];
  const app = await WorkerApp.start(redis, server.url);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      bareRates.push(await bare(redis, `r${r}`));
      console.log(`  round ${r + 1}: bare BullMQ    ${bareRates.at(-1)!.toFixed(0)} jobs/s`);
      workerRates.push(await app.round(`r${r}`));
      console.log(`  round ${r + 1}: vouchflow      ${workerRates.at(-1)!.toFixed(0)} events/s (×2 handlers)`);
    }
  } finally {
    await app.stop();
  }
  const bestBare = Math.max(...bareRates);
  const bestWorker = Math.max(...workerRates);
  const ratio = bestWorker / bestBare;
  console.log(`bare BullMQ worker, no-op jobs:        ${bestBare.toFixed(0)} jobs/s`);
  console.log(`vouchflow worker app, 2 no-op plugins: ${bestWorker.toFixed(0)} events/s`);
  console.log(`handler jobs left behind (units that spilled out of their intake job): ${spills}`);
  console.log(`ratio: ${ratio.toFixed(2)} (must be >= 0.5)`);
  recordRatio({ bench: 'worker', label: 'events/s of the worker app vs bare BullMQ', ratio, target: 0.5 });
  process.exitCode = ratio >= 0.5 && spills === 0 ? 0 : 1;
} finally {
  await redis.quit();
  await server.stop();
}
