import { HANDLER_NAME_PATTERN } from '@vouchflow/core';
import type { AnyHandler } from '@vouchflow/handler-kit';

/** Thrown at start-up when the handler set is unusable; the worker does not start. */
export class HandlerRegistryError extends Error {
  override readonly name = 'HandlerRegistryError';
}

/** Checks that a value is a handler, saying what is wrong when it is not. */
export function validateHandler(value: unknown, origin: string): AnyHandler {
  const fail = (why: string): never => {
    throw new HandlerRegistryError(`${origin}: ${why}`);
  };
  if (typeof value !== 'object' || value === null) return fail('is not a handler object ({ name, events, handle })');
  const h = value as Record<string, unknown>;
  if (typeof h['name'] !== 'string' || !HANDLER_NAME_PATTERN.test(h['name'])) {
    return fail(`name must match ${HANDLER_NAME_PATTERN} (got ${JSON.stringify(h['name'])})`);
  }
  if (!Array.isArray(h['events']) || h['events'].length === 0 || !h['events'].every((e) => typeof e === 'string' && e.length > 0)) {
    return fail(`handler "${h['name']}": events must be a non-empty list of event names or patterns`);
  }
  if (typeof h['handle'] !== 'function') return fail(`handler "${h['name']}": handle must be a function`);
  return value as AnyHandler;
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
