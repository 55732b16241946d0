/*
 * `pnpm start`: the ingress and the worker together (and the admin API when
 * ADMIN_TOKEN is set), for a first run and for development. Production runs
 * `pnpm start:ingress`, `pnpm start:worker` and `pnpm start:admin` as
 * separate processes (see README, "Building and running in production").
 *
 * Outside production it fills two gaps a newcomer would otherwise hit:
 * - no Redis: with REDIS_URL unset and nothing on 127.0.0.1:6379 it starts a
 *   local redis-server (data under .data/redis) and stops it on exit;
 * - no webhook secret: it creates a development secret under .data/ and
 *   prints it, and `pnpm sample` signs a sample delivery with it.
 * With NODE_ENV=production it does neither: the apps refuse to start unconfigured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DATA_DIR, ROOT, devSecret, loadEnv } from './dev-env.js';

const say = (line: string) => process.stdout.write(`[start] ${line}\n`);

function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitListening(port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await isListening(port)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function startLocalRedis(): Promise<ChildProcess | undefined> {
  if (spawnSync('redis-server', ['--version']).error) {
    say('No Redis on 127.0.0.1:6379 and redis-server is not installed.');
    say("Start one with `docker compose up -d redis`, or install your distribution's package (apt-get install redis-server),");
    say('or point REDIS_URL at an existing Redis.');
    process.exit(1);
  }
  const dir = join(DATA_DIR, 'redis');
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    ['--port', '6379', '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    },
  );
  if (!(await waitListening(6379, 5000))) {
    say('redis-server did not start listening on 127.0.0.1:6379');
    child.kill('SIGTERM');
    process.exit(1);
  }
  say(`Started a local redis-server for development (pid ${child.pid}, data in .data/redis). It stops when you stop this.`);
  return child;
}

async function main(): Promise<void> {
  const env = loadEnv();
  const production = env['NODE_ENV'] === 'production';
  let redis: ChildProcess | undefined;

  if (!production && !env['REDIS_URL']?.trim() && !(await isListening(6379))) redis = await startLocalRedis();

  if (!production && !env['VOUCHERIFY_WEBHOOK_SECRET']?.trim() && env['WEBHOOK_ALLOW_UNSIGNED'] !== 'true') {
    const secret = devSecret(true)!;
    env['VOUCHERIFY_WEBHOOK_SECRET'] = secret;
    say(`No VOUCHERIFY_WEBHOOK_SECRET set: using the development secret in .data/dev-webhook-secret: ${secret}`);
    say('Send a signed sample delivery with `pnpm sample` once both apps are up.');
  }

  // The admin API and dashboard join only with ADMIN_TOKEN set: without one they
  // refuse to start, and a first run must not fail for a tool it does not need.
  const withAdmin = Boolean(env['ADMIN_TOKEN']?.trim());
  const entries = [
    [join(ROOT, 'apps', 'ingress', 'src', 'main.ts')],
    [join(ROOT, 'apps', 'worker', 'src', 'main.ts')],
    ...(withAdmin ? [[join(ROOT, 'apps', 'ops', 'src', 'main.ts'), 'serve']] : []),
  ];
  if (withAdmin)
    say(`Admin API and dashboard: http://127.0.0.1:${env['ADMIN_PORT']?.trim() || '3100'}/dashboard (sign in with ADMIN_TOKEN).`);
  else say('Set ADMIN_TOKEN to run the admin API and dashboard as well (README, "Operations").');

  const apps = entries.map((entry) =>
    // Own process groups: a terminal's Ctrl-C or a supervisor's group kill reaches
    // only this launcher, which forwards one signal, so the apps shut down
    // gracefully instead of seeing a second signal and forcing exit.
    spawn(process.execPath, ['--conditions=@vouchflow/source', '--import', 'tsx', ...entry], {
      env,
      stdio: 'inherit',
      cwd: ROOT,
      detached: true,
    }),
  );
  let stopping = false;
  const running = new Set(apps);
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const child of running) child.kill(signal);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const codes = await Promise.all(
    apps.map(
      (child) =>
        new Promise<number>((resolve) =>
          child.once('exit', (code, signal) => {
            running.delete(child);
            // One app dying takes the other down, so the launcher never half-runs.
            if (!stopping) {
              say(`an app exited (${signal ?? `code ${code}`}); stopping the other`);
              stop('SIGTERM');
            }
            resolve(code ?? 1);
          }),
        ),
    ),
  );
  if (redis) {
    redis.kill('SIGTERM');
    await new Promise((r) => redis.once('exit', r));
    say('local redis-server stopped');
  }
  process.exit(Math.max(...codes));
}

void main();
