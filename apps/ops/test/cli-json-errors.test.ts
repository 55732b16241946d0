import { describe, expect, it } from 'vitest';
import { runOps } from './support.js';

/*
 * Under --json every error is one JSON line on stderr, including the ones
 * commander raises itself before any command runs: a script parsing stderr
 * never meets plain text. Real processes; none of these reach Redis.
 */

describe('pnpm ops --json, when commander itself refuses', () => {
  it('prints unknown options, bad values, missing arguments and conflicting options as JSON, exit 2', async () => {
    const env = { REDIS_URL: 'redis://127.0.0.1:1' };
    const runs = await Promise.all([
      runOps(['dlq', 'list', '--json', '--bogus'], env),
      runOps(['dlq', 'list', '--json', '--limit', 'lots'], env),
      runOps(['dlq', 'show', '--json'], env),
      runOps(['dlq', '--json'], env),
      runOps(['dlq', 'list', '--json', '--handler', 'crm', '--decode-failures'], env),
    ]);
    const messages = runs.map((run) => {
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      const parsed = JSON.parse(lines[0]!) as { error: { kind: string; message: string } };
      expect(parsed.error.kind).toBe('usage');
      return parsed.error.message;
    });
    expect(messages[0]).toMatch(/unknown option '--bogus'/);
    expect(messages[1]).toMatch(/--limit.*expected a whole number/);
    expect(messages[2]).toMatch(/missing required argument 'id'/);
    expect(messages[3]).toMatch(/unknown option '--json'/);
    expect(messages[4]).toMatch(/cannot be used with/);
  });

  it('keeps commander’s own text without --json', async () => {
    const run = await runOps(['dlq', 'list', '--bogus'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: unknown option '--bogus'/);
  });
});
