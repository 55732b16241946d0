import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

export interface RedisServerOptions {
  /** Append-only persistence, so a killed server comes back with its data. @defaultValue false */
  appendOnly?: boolean;
  /** Extra redis-server arguments, e.g. `['--cluster-enabled', 'yes']`. */
  args?: string[];
  /** Reuse a port (restarting the same server). */
  port?: number;
  /** Reuse a data directory (restarting the same server). */
  dir?: string;
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  process: ChildProcess;
  /** SIGKILL, as a crash would. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** SHUTDOWN NOSAVE-free polite stop, then removes the data directory unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

async function waitUntilUp(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < until && !exited) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') {
        probe.disconnect();
        return;
      }
    } catch {
      // not up yet
    }
    probe.disconnect();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 50);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  throw new Error(`redis-server on port ${port} did not come up${exited ? ' (it exited)' : ''}`);
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/** Starts a private redis-server on a free loopback port, for tests that must stop, kill or reconfigure it. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'vouchflow-redis-'));
  for (let tries = 0; ; tries++) {
    const port = options.port ?? (await freePort());
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        options.appendOnly ? 'yes' : 'no',
        '--maxmemory-policy',
        'noeviction',
        ...(options.args ?? []),
      ],
      { stdio: 'ignore' },
    );
    try {
      await waitUntilUp(port, child, 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      await exited(child);
      // Another process may have taken the port between freePort() and listen.
      if (options.port === undefined && tries < 3) continue;
      throw err;
    }
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      dir,
      process: child,
      async kill() {
        child.kill('SIGKILL');
        await exited(child);
      },
      async stop({ keepData = false } = {}) {
        child.kill('SIGTERM');
        await exited(child);
        if (!keepData) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
