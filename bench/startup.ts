/*
 * `pnpm bench startup`: how long the ingress and the worker take from spawn
 * to answering `/readyz` 200, and their resident memory (VmRSS) once idle,
 * run from the TypeScript sources through tsx (`pnpm dev:*`) against the
 * compiled build (`node apps/<app>/dist/main.js`, what production runs).
 * Rounds alternate the two, so load on a shared machine hits both alike; the
 * medians and their ratio (compiled / tsx; below 1 is better) are printed.
 * Builds first (`tsc -b`, incremental). About 40 s.
 *
 * Options: --rounds=N (default 5), --idle=MS before reading RSS (default 2000).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startRedisServer } from '@vouchflow/test-support';
import { recordRatio } from './_results.js';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { rounds: { type: 'string', default: '5' }, idle: { type: 'string', default: '2000' } },
});
const ROUNDS = Number(values.rounds);
const IDLE_MS = Number(values.idle);

type App = 'ingress' | 'worker';
type Mode = 'tsx' | 'compiled';

const tsc = createRequire(resolve(ROOT, 'package.json')).resolve('typescript/bin/tsc');
const built = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
if (built.status !== 0) process.exit(1);

const rssMb = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? NaN) / 1024;
};

async function once(app: App, mode: Mode, redisUrl: string): Promise<{ readyMs: number; rssMb: number }> {
  const port = await freePort();
  const entry =
    mode === 'compiled'
      ? [resolve(ROOT, 'apps', app, 'dist', 'main.js')]
      : ['--conditions=@vouchflow/source', '--import', 'tsx', resolve(ROOT, 'apps', app, 'src', 'main.ts')];
  const started = performance.now();
  const child = spawn(process.execPath, entry, {
    cwd: ROOT,
    stdio: 'ignore',
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'production',
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: `bench-startup-${app}`,
      VOUCHERIFY_WEBHOOK_SECRET: 'bench-startup-secret',
      HANDLERS: 'log',
      ...(app === 'ingress' ? { PORT: String(port) } : { METRICS_PORT: String(port) }),
    },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    // Polling is the measurement here: the first 200 from /readyz is the moment it is ready.
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${app} (${mode}) exited with ${child.exitCode} before it was ready`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await sleep(5);
    }
    const readyMs = performance.now() - started;
    await sleep(IDLE_MS);
    return { readyMs, rssMb: rssMb(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const redis = await startRedisServer();
try {
  console.log(`${ROUNDS} rounds per app and mode, alternating; RSS read after ${IDLE_MS} ms idle\n`);
  console.log('app      mode       ready (ms, median)   idle RSS (MB, median)');
  for (const app of ['ingress', 'worker'] as const) {
    const runs: Record<Mode, Array<{ readyMs: number; rssMb: number }>> = { tsx: [], compiled: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 === 0 ? (['tsx', 'compiled'] as const) : (['compiled', 'tsx'] as const)) {
        runs[mode].push(await once(app, mode, redis.url));
      }
    }
    const figures = (mode: Mode) => ({ ready: median(runs[mode].map((r) => r.readyMs)), rss: median(runs[mode].map((r) => r.rssMb)) });
    const tsx = figures('tsx');
    const compiled = figures('compiled');
    for (const [mode, f] of [
      ['tsx', tsx],
      ['compiled', compiled],
    ] as const) {
      console.log(`${app.padEnd(8)} ${mode.padEnd(10)} ${f.ready.toFixed(0).padStart(18)}   ${f.rss.toFixed(1).padStart(21)}`);
    }
    recordRatio({ bench: 'startup', label: `${app} start-up, compiled / tsx`, ratio: compiled.ready / tsx.ready, lowerIsBetter: true });
    recordRatio({ bench: 'startup', label: `${app} idle RSS, compiled / tsx`, ratio: compiled.rss / tsx.rss, lowerIsBetter: true });
    console.log(
      `${app.padEnd(8)} ratio compiled/tsx: start-up ${(compiled.ready / tsx.ready).toFixed(2)}, idle RSS ${(compiled.rss / tsx.rss).toFixed(2)}\n`,
    );
  }
} finally {
  await redis.stop();
}
