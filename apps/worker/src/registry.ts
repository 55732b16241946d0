import { HANDLER_NAME_PATTERN } from '@vouchflow/core';
import type { AnyHandler } from '@vouchflow/handler-kit';
import { isKnownEventType } from '@vouchflow/schema';

/** Thrown at start-up when the handler set is unusable; the worker does not start. */
export class HandlerRegistryError extends Error {
  override readonly name = 'HandlerRegistryError';
}

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * Checks that a value is a handler, saying what is wrong when it is not.
 * Plain-JavaScript handlers get no help from the compiler, so every field is
 * checked here, at start, rather than failing on the first event.
 */
export function validateHandler(value: unknown, origin: string): AnyHandler {
  const fail = (why: string): never => {
    throw new HandlerRegistryError(`${origin}: ${why}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`exports ${describe(value)}, not a handler object ({ name, events, handle })`);
  }
  const h = value as Record<string, unknown>;
  if (typeof h['name'] !== 'string' || !HANDLER_NAME_PATTERN.test(h['name'])) {
    return fail(`name must match ${HANDLER_NAME_PATTERN} (got ${JSON.stringify(h['name'])})`);
  }
  const name = h['name'];
  const events = h['events'];
  if (!Array.isArray(events) || events.length === 0 || !events.every((e) => typeof e === 'string' && e.length > 0)) {
    return fail(`handler "${name}": events must be a non-empty list of event names or patterns`);
  }
  for (const e of events as string[]) {
    if (!e.endsWith('*') && !isKnownEventType(e)) {
      fail(`handler "${name}": unknown event "${e}" (no codec, so it would never run); use a known name or a pattern ending in *`);
    }
  }
  if (typeof h['handle'] !== 'function') return fail(`handler "${name}": handle must be a function`);
  if (h['concurrency'] !== undefined && !isPositiveInt(h['concurrency'])) {
    fail(`handler "${name}": concurrency must be a positive integer (got ${describe(h['concurrency'])})`);
  }
  if (h['timeoutMs'] !== undefined && !isPositiveInt(h['timeoutMs'])) {
    fail(`handler "${name}": timeoutMs must be a positive integer of milliseconds (got ${describe(h['timeoutMs'])})`);
  }
  const rate = h['rateLimit'];
  if (rate !== undefined) {
    const r = rate as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null || !isPositiveInt(r['max']) || !isPositiveInt(r['durationMs'])) {
      fail(`handler "${name}": rateLimit must be { max, durationMs } with positive integers (got ${describe(rate)})`);
    }
  }
  return value as AnyHandler;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'object') return JSON.stringify(value)?.slice(0, 80) ?? 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Validates every handler and refuses a name used twice. */
export function buildRegistry(entries: ReadonlyArray<{ handler: unknown; origin: string }>): AnyHandler[] {
  const byName = new Map<string, string>();
  return entries.map(({ handler, origin }) => {
    const h = validateHandler(handler, origin);
    const previous = byName.get(h.name);
    if (previous) throw new HandlerRegistryError(`${origin}: handler name "${h.name}" is already used by ${previous}`);
    byName.set(h.name, origin);
    return h;
  });
}
