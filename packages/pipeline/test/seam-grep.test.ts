/*
 * BullMQ's private parts (its script files, key suffixes and job-hash fields)
 * are named in one module only: packages/pipeline/src/bullmq-seam.ts, and its
 * contract test. This test reads every source file of the repository and
 * fails, naming file and line, when another one names them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const ALLOWED = new Set([
  'packages/pipeline/src/bullmq-seam.ts',
  'packages/pipeline/test/bullmq-seam.test.ts',
  'packages/pipeline/test/seam-grep.test.ts',
]);
const SKIP_DIRS = new Set(['node_modules', '.git', '.data', 'outbox', 'coverage', 'dist']);

/** What names a BullMQ internal. */
export const INTERNALS: ReadonlyArray<{ what: string; pattern: RegExp }> = [
  { what: 'a BullMQ script file', pattern: /bullmq\/dist\/|dist\/(cjs|esm)\/scripts/ },
  {
    what: 'a BullMQ script',
    pattern:
      /\b(addStandardJob|addDelayedJob|addPrioritizedJob|addParentJob|moveToFinished|moveToActive|reprocessJob|retryJob|moveStalledJobsToWait|extendLocks|addJobToTransaction)\b/,
  },
  {
    what: 'a BullMQ key suffix',
    pattern:
      /(?<!node):(wait|paused|active|delayed|completed|failed|prioritized|events|meta|marker|stalled|stalled-check|limiter|de|pc)(?=[:'"`])/,
  },
  { what: 'a BullMQ job-hash field', pattern: /['"](atm|ats|stc|deid|failedReason|stacktrace|finishedOn|processedOn|returnvalue)['"]/ },
  { what: 'a job-hash read', pattern: /\.h(m?get|getall|set|del|setnx)\([^)]*['"](data|opts|name|timestamp|delay|priority)['"]/ },
  { what: "BullMQ's key builder", pattern: /\.toKey\(|\.keys\[['"]/ },
];

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) sources(join(dir, entry.name), out);
    } else if (/\.(ts|js|mjs|cjs|lua)$/.test(entry.name)) {
      out.push(join(dir, entry.name));
    }
  }
  return out;
}

describe('one seam to BullMQ', () => {
  it('no file outside the seam names a BullMQ script, key suffix or job-hash field', () => {
    const files = sources(ROOT).map((f) => relative(ROOT, f));
    expect(files).toContain('packages/pipeline/src/bullmq-seam.ts');
    const hits: string[] = [];
    for (const file of files) {
      if (ALLOWED.has(file)) continue;
      readFileSync(resolve(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const { what, pattern } of INTERNALS) if (pattern.test(line)) hits.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
        });
    }
    expect(hits).toEqual([]);
  });

  it('sees an internal when one is named (the check can fail)', () => {
    const named = ["hget(key, 'atm')", '`${prefix}:intake:failed`', "require('bullmq/dist/cjs/scripts/addStandardJob-9.js')"];
    for (const line of named)
      expect(
        INTERNALS.some(({ pattern }) => pattern.test(line)),
        line,
      ).toBe(true);
  });
});
