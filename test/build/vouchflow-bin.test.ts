import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deletePrefix, runProcess, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';

// pnpm itself must find its way: the whole environment, as a user's shell has it.
const run = (command: string, args: readonly string[], env: Record<string, string>) => runProcess(command, args, env, { inheritEnv: true });

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The `vouchflow` bin prints what the command prints and nothing else: no
 * pnpm `$ node …` or ELIFECYCLE lines, so `--json` output parses as it is,
 * from the source tree (no build needed) and from the build.
 */
describe('the vouchflow bin', { timeout: 60_000 }, () => {
  const env = { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: uniquePrefix('bin') };
  const scratch = mkdtempSync(join(tmpdir(), 'vouchflow-bin-'));

  afterAll(async () => {
    rmSync(scratch, { recursive: true, force: true });
    await deletePrefix(env.REDIS_URL, env.QUEUE_PREFIX);
  });

  const isStats = (value: unknown) =>
    expect(value).toMatchObject({
      queues: expect.arrayContaining([expect.objectContaining({ queue: 'intake', handler: null })]) as unknown,
      redis: expect.objectContaining({ usedMemory: expect.any(Number) as unknown }) as unknown,
    });

  it('`pnpm exec vouchflow stats --json`: stdout is JSON, stderr is empty', async () => {
    const out = await run('pnpm', ['exec', 'vouchflow', 'stats', '--json'], env);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    isStats(JSON.parse(out.stdout));
  });

  it('a failure under --json: exit 1, stdout empty, stderr one JSON line and nothing from pnpm', async () => {
    const out = await run('pnpm', ['exec', 'vouchflow', 'dlq', 'show', 'handler-crm/ev-none-crm', '--json'], env);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(out.stderr)).toEqual({ error: { kind: 'not_found', message: expect.stringContaining('no dead letter') } });
  });

  it('`node apps/ops/dist/main.js stats --json` after the build', async () => {
    const out = await run(process.execPath, [resolve(ROOT, 'apps/ops/dist/main.js'), 'stats', '--json'], env);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    isStats(JSON.parse(out.stdout));
  });

  it('where only the build exists (as in the Docker image), the bin runs it', async () => {
    // The launcher beside a dist/ and no src/: what the image holds.
    const app = join(scratch, 'ops');
    cpSync(resolve(ROOT, 'apps/ops/bin'), join(app, 'bin'), { recursive: true });
    symlinkSync(resolve(ROOT, 'apps/ops/dist'), join(app, 'dist'), 'dir');
    const out = await run(process.execPath, [join(app, 'bin/vouchflow.js'), 'stats', '--json'], env);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    isStats(JSON.parse(out.stdout));
  });
});
