import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

export type LogLine = Record<string, unknown> & { level?: string; message?: string };

export interface AppProcess {
  readonly process: ChildProcess;
  /** Every JSON log line so far. */
  readonly lines: LogLine[];
  /** Output that was not a JSON log line (crashes, config errors). */
  readonly otherOutput: string[];
  /** Resolves with the first line (past or future) matching `test`; rejects on timeout or exit. */
  waitForLog(test: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export interface StartAppOptions {
  /** Run the compiled `apps/<name>/dist/main.js` (after `pnpm build`) instead of the sources through tsx. */
  compiled?: boolean;
  /** Arguments after the entry point (`serve` for ops). */
  args?: string[];
}

/**
 * Runs `apps/<name>/src/main.ts` as a real process, as `pnpm dev:<name>` does
 * (or, `compiled`, `apps/<name>/dist/main.js` as `pnpm start:<name>` does),
 * with JSON logs (NODE_ENV=production) so tests can wait on log events.
 */
export function startApp(name: 'ingress' | 'worker' | 'ops', env: Record<string, string>, options: StartAppOptions = {}): AppProcess {
  const entry = options.compiled
    ? [resolve(ROOT, 'apps', name, 'dist', 'main.js')]
    : ['--conditions=@vouchflow/source', '--import', 'tsx', resolve(ROOT, 'apps', name, 'src', 'main.ts')];
  const child = spawn(process.execPath, [...entry, ...(options.args ?? [])], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', NODE_ENV: 'production', LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const otherOutput: string[] = [];
  const waiters = new Set<{ test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const onLine = (text: string) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      otherOutput.push(text);
      return;
    }
    lines.push(line);
    for (const w of waiters) if (w.test(line)) w.resolve(line);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  return {
    process: child,
    lines,
    otherOutput,
    exited,
    waitForLog(test, timeoutMs = 15_000) {
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolvePromise, reject) => {
        const waiter = {
          test,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolvePromise(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${name}: no matching log line within ${timeoutMs} ms; output:\n${otherOutput.join('\n')}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then((code) => {
          if (!waiters.has(waiter)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          reject(new Error(`${name} exited (code ${code}) before the expected log line; output:\n${otherOutput.join('\n')}`));
        });
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
