/*
 * `pnpm bench ingress`: requests/s and p99 of the ingress as `pnpm
 * start:ingress` runs it (the compiled build, `node apps/ingress/dist/main.js`,
 * built first with `tsc -b`; signature checks, real enqueues into a private
 * redis-server) against a bare Express 5 app
 * that only parses JSON and answers 202, in the same run, on the same
 * machine, with the same wrk invocation and the same kind of bodies (the
 * points_added fixture, a new event id and a valid signature per request,
 * signed inside wrk's Lua through the libcrypto wrk links).
 *
 * Rounds alternate baseline and ingress back to back; the headline ratio is
 * best against best, and the median of the per-round ratios is printed too,
 * as is the CPU time each process used per request (read from /proc), which
 * other load on a shared machine disturbs less than requests/s. Each round
 * also runs, for information, the ingress reached through Express's router
 * (the same handler at `/webhooks/voucherify/`; the exact path skips the
 * router). By default both servers run on CPU 0 and wrk and redis-server on
 * CPU 1 (taskset).
 *
 * Then: p50/p99 of the ingress paced at 80% of its measured maximum (open
 * loop: each wrk request waits for its slot in a fixed schedule), and the p99
 * of sequential acknowledgements (one request at a time). Last, the ingress
 * against the same Redis with its append-only file fsync'd once a second
 * (`appendfsync everysec`) and on every write (`always`), full speed and
 * sequential, for the durability choice in README and docker-compose.yml.
 * About two minutes (114 s on the quiet machine), plus the build when sources changed.
 *
 * Options: --duration=SECONDS per measured run (default 5), --rounds=N
 * (default 5), --connections=N (default 64), --sequential=N requests
 * (default 2000), --pin=no, --fsync=no (skips the persistence runs),
 * --via-express=no (skips the runs through Express's router).
 * BENCH_INGRESS_NODE_ARGS: extra node arguments for the ingress process
 * (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`; NODE_OPTIONS refuses --cpu-prof).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { Redis } from 'ioredis';
import { openIntakeQueue } from '@vouchflow/pipeline';
import { freePort, startRedisServer } from '@vouchflow/test-support';
import { buildApps } from './_build.js';
import { recordRatio } from './_results.js';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  // `pnpm bench ingress -- --rounds=5` passes the `--` along.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    sequential: { type: 'string', default: '2000' },
    pin: { type: 'string', default: 'yes' },
    fsync: { type: 'string', default: 'yes' },
    'via-express': { type: 'string', default: 'yes' },
  },
});
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const SEQUENTIAL = Number(values.sequential);
const VIA_EXPRESS = values['via-express'] !== 'no';
// Server on CPU 0; wrk and redis-server on CPU 1, for both sides alike, so that the load generator and
// Redis do not steal the server's core (they still share theirs). Other processes are not pinned away.
const PIN = values.pin !== 'no' && cpus().length >= 2 && spawnSync('taskset', ['-V']).status === 0;
const pinned = (cpu: number, command: string, args: string[]): [string, string[]] =>
  PIN ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args];
const SECRET = `bench-${randomBytes(8).toString('hex')}`;
const WRK = '/usr/bin/wrk';
const WEBHOOK_PATH = '/webhooks/voucherify';
// The same route spelled with a trailing slash: Express routes it to the same handler, through its router.
const VIA_EXPRESS_PATH = '/webhooks/voucherify/';

if (spawnSync(WRK, ['-v']).error) {
  console.error(`wrk not found at ${WRK}: apt-get install wrk`);
  process.exit(2);
}

interface WrkResult {
  /** CPU milliseconds each watched process used during the run. */
  cpuMs: number[];
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: string;
}

/** "1.23ms" / "850.00us" / "1.02s" → milliseconds. */
function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

const work = mkdtempSync(join(tmpdir(), 'vouchflow-bench-'));
const template = join(work, 'template.txt');
const fixture = JSON.parse(readFileSync(join(ROOT, 'packages/schema/fixtures/points_added.json'), 'utf8')) as {
  event: { id: string };
};
fixture.event.id = '__EVENT_ID__';
const [before, after] = JSON.stringify(fixture).split('"__EVENT_ID__"') as [string, string];
writeFileSync(template, `${before}"\n"${after}\n`);
const bodyBytes = Buffer.byteLength(JSON.stringify(fixture));

const TICKS_PER_SECOND = 100;

/** CPU time (user + system) of a process so far, in ms; NaN where /proc is not available. */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

function wrk(url: string, seconds: number, intervalUs = 0, watch: (number | undefined)[] = [], path = WEBHOOK_PATH): WrkResult {
  const cpuBefore = watch.map(cpuMs);
  const run = spawnSync(
    ...pinned(1, WRK, [
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--latency',
      '-s',
      join(ROOT, 'bench/_wrk-signed.lua'),
      `${url}${path}`,
    ]),
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        BENCH_TEMPLATE: template,
        BENCH_SECRET: SECRET,
        BENCH_RUN: randomBytes(6).toString('hex'),
        BENCH_INTERVAL_US: String(Math.round(intervalUs)),
        BENCH_PATH: path,
      },
      timeout: (seconds + 30) * 1000,
    },
  );
  const out = run.stdout ?? '';
  if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr}\n${out}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors: .*/.exec(out)?.[0] ?? '';
  const cpu = watch.map((pid, i) => cpuMs(pid) - cpuBefore[i]!);
  return { cpuMs: cpu, rps, p50, p99, requests, non2xx, errors };
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      // Any answer will do: the server is up.
      await fetch(url, { method: 'POST', signal: AbortSignal.timeout(1000) }).then((r) => r.arrayBuffer());
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

/** Runs a script with node: a `.ts` file (the baseline) through tsx, a built `.js` file (the ingress) as it is. */
function startServer(script: string, env: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
  const loader = script.endsWith('.ts') ? ['--conditions=@vouchflow/source', '--import', 'tsx'] : [];
  return spawn(...pinned(0, process.execPath, [...nodeArgs, ...loader, join(ROOT, script)]), {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** One request at a time over a keep-alive connection; latency of each acknowledgement. */
async function sequential(url: string, count: number): Promise<{ p50: number; p99: number; max: number; non2xx: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let non2xx = 0;
  const tag = randomBytes(6).toString('hex');
  try {
    for (let i = 0; i < count; i++) {
      const body = `${before}"evcus_seq_${tag}_${i}"${after}`;
      const headers = { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, SECRET) };
      const started = performance.now();
      const status = await new Promise<number>((resolvePromise, reject) => {
        const req = request(`${url}/webhooks/voucherify`, { method: 'POST', agent, headers }, (res) => {
          res.resume();
          res.on('end', () => resolvePromise(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
      times.push(performance.now() - started);
      if (status < 200 || status >= 300) non2xx++;
    }
  } finally {
    agent.destroy();
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: times[times.length - 1]!, non2xx };
}

/** redis-cli against the private server (the root package does not depend on a Redis client). */
/** Deliveries the ingress stored and no worker took yet, read through BullMQ's public API. */
async function waitingDeliveries(port: number): Promise<number> {
  const connection = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null });
  const queue = openIntakeQueue({ connection, queuePrefix: 'bench' });
  try {
    return await queue.getWaitingCount();
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

function redisCli(port: number, ...args: string[]): string {
  const run = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${run.stderr}`);
  return run.stdout.trim();
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  const startedAt = Date.now();
  console.log(
    `Figures from a shared ${cpus().length}-core machine (wrk, both servers and redis-server share it); compare ratios, not absolute numbers.`,
  );
  console.log(`Body: points_added fixture, ${bodyBytes} bytes, new event id and HMAC signature per request.`);
  console.log(`wrk -t1 -c${CONNECTIONS} -d${DURATION}s, ${ROUNDS} alternating round(s).`);
  console.log(PIN ? 'Pinned: servers on CPU 0, wrk and redis-server on CPU 1 (--pin=no to turn off).\n' : 'Not pinned.\n');

  // The ingress as `pnpm start:ingress` runs it.
  buildApps();

  const redis = await startRedisServer();
  if (PIN) spawnSync('taskset', ['-a', '-p', '-c', '1', String(redis.process.pid)]);
  const [basePort, ingressPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const baseline = startServer('bench/_bare-express.ts', { PORT: String(basePort), NODE_ENV: 'production' });
  const ingress = startServer(
    'apps/ingress/dist/main.js',
    {
      PORT: String(ingressPort),
      INGRESS_METRICS_PORT: String(metricsPort),
      NODE_ENV: 'production',
      // LOG_LEVEL at its default (info), as users run it: a stored delivery writes no log line.
      REDIS_URL: redis.url,
      QUEUE_PREFIX: 'bench',
      VOUCHERIFY_WEBHOOK_SECRET: SECRET,
      // No worker drains the queue here: back-pressure must not kick in during the run.
      MAX_BACKLOG: '100000000',
    },
    (process.env['BENCH_INGRESS_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
  );
  const baseUrl = `http://127.0.0.1:${basePort}`;
  const ingressUrl = `http://127.0.0.1:${ingressPort}`;
  let failed = false;
  try {
    await Promise.all([waitForHttp(baseUrl, baseline), waitForHttp(ingressUrl, ingress)]);

    // Warm up both (JIT, connection setup, script loading in Redis).
    wrk(baseUrl, 2);
    wrk(ingressUrl, 2);

    const base: WrkResult[] = [];
    const ing: WrkResult[] = [];
    const viaExpress: WrkResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      redisCli(redis.port, 'FLUSHALL');
      const b = wrk(baseUrl, DURATION, 0, [baseline.pid]);
      const i = wrk(ingressUrl, DURATION, 0, [ingress.pid, redis.process.pid]);
      const e = VIA_EXPRESS ? wrk(ingressUrl, DURATION, 0, [ingress.pid, redis.process.pid], VIA_EXPRESS_PATH) : undefined;
      base.push(b);
      ing.push(i);
      if (e) viaExpress.push(e);
      console.log(
        `round ${round}: bare express ${fmt(b.rps, 0)} req/s (p99 ${fmt(b.p99)} ms) | ingress ${fmt(i.rps, 0)} req/s (p99 ${fmt(i.p99)} ms) | ratio ${fmt(i.rps / b.rps)}` +
          (e ? ` | via Express's router ${fmt(e.rps, 0)} req/s, ratio ${fmt(e.rps / b.rps)}` : ''),
      );
      for (const [name, r] of [
        ['bare express', b],
        ['ingress', i],
        ...(e ? [["ingress via Express's router", e] as const] : []),
      ] as const) {
        if (r.non2xx > 0 || r.errors) {
          console.log(`  ! ${name}: ${r.non2xx} non-2xx answers ${r.errors}`);
          failed = true;
        }
      }
    }
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} ([\\d.e+]+)$`, 'm').exec(metrics)?.[1]);
    const batches = metric('vouchflow_ingress_enqueue_batch_size_count');
    console.log(
      `enqueue batches so far: ${batches}, mean ${fmt(metric('vouchflow_ingress_enqueue_batch_size_sum') / batches, 1)} deliveries per Redis round trip`,
    );
    const stored = await waitingDeliveries(redis.port);
    const bestBase = Math.max(...base.map((r) => r.rps));
    const bestIng = Math.max(...ing.map((r) => r.rps));
    const ratio = bestIng / bestBase;
    console.log('');
    console.log(
      `bare express: ${fmt(bestBase, 0)} req/s best, ${fmt(median(base.map((r) => r.rps)), 0)} median; p99 ${fmt(median(base.map((r) => r.p99)))} ms`,
    );
    console.log(
      `ingress:      ${fmt(bestIng, 0)} req/s best, ${fmt(median(ing.map((r) => r.rps)), 0)} median; p99 ${fmt(median(ing.map((r) => r.p99)))} ms`,
    );
    const lastRequests = ing[ing.length - 1]!.requests + (viaExpress[viaExpress.length - 1]?.requests ?? 0);
    console.log(`stored in Redis by the last round's ingress runs: ${stored} of ${lastRequests} requests`);
    // CPU per request: what each side costs the machine, less sensitive to other load than req/s.
    const perRequest = (r: WrkResult, k: number) => (r.cpuMs[k]! * 1000) / r.requests;
    const baseCpu = median(base.map((r) => perRequest(r, 0)));
    const ingressCpu = median(ing.map((r) => perRequest(r, 0)));
    const redisCpu = median(ing.map((r) => perRequest(r, 1)));
    if (Number.isFinite(baseCpu)) {
      console.log(
        `CPU per request (median): bare express ${fmt(baseCpu, 0)} µs | ingress ${fmt(ingressCpu, 0)} µs + redis-server ${fmt(redisCpu, 0)} µs` +
          ` | node-only cost ratio ${fmt(baseCpu / ingressCpu)}, with Redis ${fmt(baseCpu / (ingressCpu + redisCpu))}`,
      );
      // A server below 100% is waiting (for Redis, for wrk) rather than working: the ratio then undersells it.
      const busy = (r: WrkResult) => (100 * r.cpuMs[0]!) / (DURATION * 1000);
      console.log(
        `server busy (median share of its CPU): bare express ${fmt(median(base.map(busy)), 0)}% | ingress ${fmt(median(ing.map(busy)), 0)}%`,
      );
    }
    const paired = median(ing.map((r, k) => r.rps / base[k]!.rps));
    console.log(`median of the per-round ratios: ${fmt(paired)} (each round runs both back to back)`);
    if (viaExpress.length > 0) {
      // Information, not the target: what the fast path saves. The same handler, reached through Express's router.
      const bestVia = Math.max(...viaExpress.map((r) => r.rps));
      console.log(
        `ingress via Express's router (POST ${VIA_EXPRESS_PATH}, same handler): ${fmt(bestVia, 0)} req/s best, ratio ${fmt(bestVia / bestBase)} best against best,` +
          ` ${fmt(median(viaExpress.map((r, k) => r.rps / base[k]!.rps)))} per-round median; CPU per request ${fmt(median(viaExpress.map((r) => perRequest(r, 0))), 0)} µs`,
      );
    }
    console.log(
      `RATIO ingress / bare express (best of ${ROUNDS}): ${fmt(ratio)} (target >= 0.95) ${ratio >= 0.95 ? 'OK' : 'BELOW TARGET'}`,
    );
    recordRatio({ bench: 'ingress', label: 'req/s vs bare Express', ratio, target: 0.95 });

    // Paced at 80% of the ingress's maximum: the latency a sender sees under heavy but sustainable load.
    redisCli(redis.port, 'FLUSHALL');
    const target = 0.8 * bestIng;
    const paced = wrk(ingressUrl, DURATION, 1e6 / target);
    console.log(
      `\ningress paced at 80% of max (${fmt(target, 0)} req/s target, ${fmt(paced.rps, 0)} achieved): p50 ${fmt(paced.p50)} ms, p99 ${fmt(paced.p99)} ms`,
    );
    if (paced.non2xx > 0) failed = true;

    const seq = await sequential(ingressUrl, SEQUENTIAL);
    console.log(
      `sequential acknowledgements (${SEQUENTIAL}, one at a time): p50 ${fmt(seq.p50)} ms, p99 ${fmt(seq.p99)} ms, max ${fmt(seq.max)} ms (target p99 < 50 ms) ${seq.p99 < 50 ? 'OK' : 'ABOVE TARGET'}`,
    );
    if (seq.non2xx > 0) failed = true;
    if (ratio < 0.95 || seq.p99 >= 50) failed = true;

    // Durability: the same Redis with its append-only file, fsync'd once a second or on every write.
    if (values.fsync !== 'no') console.log('\nwith Redis persistence (append-only file), full speed and sequential:');
    for (const policy of values.fsync === 'no' ? [] : (['everysec', 'always'] as const)) {
      redisCli(redis.port, 'FLUSHALL');
      redisCli(redis.port, 'CONFIG', 'SET', 'appendonly', 'yes');
      redisCli(redis.port, 'CONFIG', 'SET', 'appendfsync', policy);
      // Turning the AOF on rewrites it in the background: measure once that is over.
      while (/aof_rewrite_in_progress:1/.test(redisCli(redis.port, 'INFO', 'persistence'))) await new Promise((r) => setTimeout(r, 50));
      const full = wrk(ingressUrl, DURATION, 0, [ingress.pid, redis.process.pid]);
      const one = await sequential(ingressUrl, Math.min(SEQUENTIAL, 1000));
      console.log(
        `  appendfsync ${policy.padEnd(8)}: ${fmt(full.rps, 0)} req/s (${fmt(full.rps / bestIng)} of the ingress without persistence), p99 ${fmt(full.p99)} ms | sequential p50 ${fmt(one.p50)} ms, p99 ${fmt(one.p99)} ms`,
      );
      if (full.non2xx > 0 || one.non2xx > 0) failed = true;
    }
    redisCli(redis.port, 'CONFIG', 'SET', 'appendonly', 'no');
  } finally {
    await Promise.all([stopServer(baseline), stopServer(ingress)]);
    await redis.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n(${fmt((Date.now() - startedAt) / 1000, 0)} s)`);
  process.exit(failed ? 1 : 0);
}

await main();
