import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';

// The sample deliveries ship with @vouchflow/schema, next to its src/.
const fixturesDir = (): string => join(dirname(createRequire(import.meta.url).resolve('@vouchflow/schema')), '..', 'fixtures');

/** Names of the sample deliveries the project ships (`points_added`, `points_expired`, …). */
export function fixtureNames(): string[] {
  return readdirSync(fixturesDir())
    .filter((f) => f.endsWith('.json') && !f.endsWith('.data.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

/**
 * A complete delivery to run a handler against: a shipped sample by name
 * (`loadFixture('points_added')`) or a JSON file by path. Each call returns a
 * fresh copy, so a test may change it (add `data.customer.email`, say).
 * Name the type to change it type-safely:
 * `loadFixture<EventMap['customer.voucher.loyalty_card.points_added']>('points_added')`.
 */
export function loadFixture<T = Record<string, unknown>>(nameOrPath: string): T {
  const file =
    nameOrPath.endsWith('.json') || nameOrPath.includes('/') || isAbsolute(nameOrPath)
      ? resolve(nameOrPath)
      : join(fixturesDir(), `${nameOrPath}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`No fixture "${nameOrPath}" (looked at ${file}); shipped ones: ${fixtureNames().join(', ')}`);
  }
  return JSON.parse(text) as T;
}
