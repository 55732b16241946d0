import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const here = import.meta.dirname;
/** Copies of the shared fixtures (../shared/voucherify/fixtures) that ship with the package. */
export const SHARED_DIR = resolve(here, '../fixtures');
/** One complete delivery per named event, written from WEBHOOKS.md's field lists; named `<event.type>.json`. */
export const EVENT_DIR = resolve(here, 'fixtures');
/** The examples of Voucherify's OpenAPI description, wrapped in the envelope (scripts/spec-fixtures.ts); named `<event.type>.json`. */
export const SPEC_DIR = resolve(here, '../fixtures/spec');

export interface Fixture {
  file: string;
  text: string;
  json: Record<string, unknown>;
}

const load = (dir: string): Fixture[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      return { file: f, text, json: JSON.parse(text) as Record<string, unknown> };
    });

export const sharedFixtures = (): Fixture[] => load(SHARED_DIR).filter((f) => !f.file.endsWith('.data.json'));
export const eventFixtures = (): Fixture[] => load(EVENT_DIR);
export const specFixtures = (): Fixture[] => load(SPEC_DIR);
/** Every complete delivery we have. */
export const allDeliveries = (): Fixture[] => [...sharedFixtures(), ...eventFixtures(), ...specFixtures()];

/** A fresh deep copy, so a test may mutate it. */
export const clone = <T>(value: T): T => structuredClone(value);

export const eventTypeOf = (f: Fixture): string => (f.json['event'] as { type: string }).type;

/**
 * A fixture opened up for mutation: tests reach into arbitrary paths to break
 * them on purpose, which no precise type allows.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = Record<string, any>;

/** A fresh copy of a shared fixture (`points_added`, `points_expired`), of `test/fixtures/<type>.json`, else of the spec's `<type>.json`. */
export function delivery(name: 'points_added' | 'points_expired' | (string & {})): Loose {
  const found = [...sharedFixtures(), ...eventFixtures(), ...specFixtures()].find((f) => f.file === `${name}.json`);
  if (!found) throw new Error(`no fixture ${name}`);
  return clone(found.json);
}
