import { HANDLER_NAME_PATTERN } from '@vouchflow/core';
import type { AnyHandler } from '@vouchflow/handler-kit';
import { EVENT_TYPES, isKnownEventType } from '@vouchflow/schema';

/**
 * Thrown at start-up when the handler set is unusable; the worker does not
 * start. Every message begins with `HANDLERS:` and says what to change.
 */
export class HandlerRegistryError extends Error {
  override readonly name = 'HandlerRegistryError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message.startsWith('HANDLERS: ') ? message : `HANDLERS: ${message}`, options);
  }
}

/** Edit distance, for suggesting the event a misspelt name meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The known event name closest to `name`, when it is close enough to be a typo. */
export function nearestEventType(name: string): string | undefined {
  let best: { type: string; d: number } | undefined;
  for (const type of EVENT_TYPES) {
    const d = distance(name, type);
    if (!best || d < best.d) best = { type, d };
  }
  return best && best.d <= Math.max(3, Math.floor(name.length / 5)) ? best.type : undefined;
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
    return fail(
      `default export is not a handler: it is ${describe(value)}; export { name, events, handle }, or a factory made with defineHandlerFactory`,
    );
  }
  const h = value as Record<string, unknown>;
  if (h['handle'] === undefined && h['events'] === undefined && h['name'] === undefined) {
    // Usually a module's exports wrapped once more (`export default { myHandler }`, a namespace import).
    return fail(
      `default export is not a handler (keys: ${Object.keys(h).join(', ') || 'none'}); export the handler itself: export default myHandler`,
    );
  }
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
      const nearest = nearestEventType(e);
      fail(
        `handler "${name}": unknown event "${e}" (no codec, so it would never run); ${nearest ? `did you mean "${nearest}"? ` : ''}use a known name or a pattern ending in *`,
      );
    }
  }
  if (typeof h['handle'] !== 'function') return fail(`handler "${name}": handle must be a function`);
  if (h['wasDone'] !== undefined && typeof h['wasDone'] !== 'function') {
    fail(`handler "${name}": wasDone must be a function when given (got ${describe(h['wasDone'])})`);
  }
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
  const circuit = h['circuit'];
  if (circuit !== undefined && circuit !== false) {
    const c = circuit as Record<string, unknown> | null;
    const bad =
      typeof c !== 'object' ||
      c === null ||
      Array.isArray(c) ||
      Object.keys(c).some((k) => !['failures', 'windowMs', 'cooldownMs'].includes(k)) ||
      ['failures', 'windowMs', 'cooldownMs'].some((k) => c[k] !== undefined && !isPositiveInt(c[k]));
    if (bad)
      fail(
        `handler "${name}": circuit must be false or { failures?, windowMs?, cooldownMs? } with positive integers (got ${describe(circuit)})`,
      );
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
