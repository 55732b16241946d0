import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

/** How a command run to its end went. */
export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command in the repository's root to its end, collecting its output.
 * Its stdin is a closed pipe: not a terminal, as in a script. `env` is all
 * the environment it gets besides PATH and HOME, unless `inheritEnv`.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  { inheritEnv = false }: { inheritEnv?: boolean } = {},
): Promise<ProcessRun> {
  const base = inheritEnv ? process.env : { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' };
  const child = spawn(command, args, { cwd: ROOT, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Runs `pnpm ops <args>` from the sources, as a real process (no build needed). */
export function runOps(args: readonly string[], env: Record<string, string>): Promise<ProcessRun> {
  return runProcess(
    process.execPath,
    ['--conditions=@vouchflow/source', '--import', 'tsx', resolve(ROOT, 'apps/ops/src/main.ts'), ...args],
    env,
  );
}

/** One sample's value from a `/metrics` page, e.g. `vouchflow_archive_backlog{state="waiting"}`; undefined when absent. */
export async function scrapeMetric(port: number, sample: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
