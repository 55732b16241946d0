import type { AnyHandler, EventPattern, Handler } from './handler.js';
import type { Logger } from './logger.js';

/**
 * Anything that decodes a plugin's settings the way an io-ts codec does:
 * `decode(input)` gives `{ _tag: 'Right', right }` or `{ _tag: 'Left', left }`
 * (io-ts's errors). The kit does not depend on io-ts; the plugin brings its own.
 */
export interface SettingsCodec<S> {
  decode(input: unknown): { _tag: 'Right'; right: S } | { _tag: 'Left'; left: unknown };
}

/** What a handler factory receives from the worker. */
export interface HandlerDeps<S> {
  /** The plugin's settings: its `HANDLER_<NAME>_*` environment variables, decoded by its codec. */
  settings: S;
  /** Scoped to the handler (`handler: <name>`); write-only. */
  logger: Logger;
}

/**
 * A handler module's default export when the handler needs settings: a
 * function `(deps) => handler` that also carries the handler's name (which
 * names its variables) and the codec of its settings.
 */
export interface HandlerFactory<S = unknown> {
  (deps: HandlerDeps<S>): AnyHandler | Promise<AnyHandler>;
  readonly handlerName: string;
  readonly settings: SettingsCodec<S>;
}

/**
 * `HANDLER_POINTS_TO_SLACK_` for `points-to-slack`: the prefix of a handler's
 * settings variables. The settings object is every such variable, keyed by
 * the rest of its name (`HANDLER_POINTS_TO_SLACK_WEBHOOK_URL` → `WEBHOOK_URL`).
 */
export const settingsPrefix = (handlerName: string): string => `HANDLER_${handlerName.toUpperCase().replace(/-/g, '_')}_`;

/** The variables under a handler's prefix, prefix removed; unset and empty ones left out. */
export function settingsInput(handlerName: string, env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const prefix = settingsPrefix(handlerName);
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(prefix) && value !== undefined && value.trim() !== '') input[key.slice(prefix.length)] = value;
  }
  return input;
}

/** Thrown when a plugin's settings do not decode; the message names each variable and what is wrong. */
export class HandlerSettingsError extends Error {
  override readonly name = 'HandlerSettingsError';
}

interface IoTsError {
  value?: unknown;
  message?: string;
  context?: ReadonlyArray<{ key: string; type: { name: string; _tag?: string } }>;
}

// The members of an intersection or union appear in the path as "0", "1": not a setting's name.
const COMBINATORS = new Set(['IntersectionType', 'UnionType']);

/** io-ts's errors as `HANDLER_X_KEY: expected T, got V` lines; anything else as it prints. */
function describeErrors(prefix: string, left: unknown): string {
  if (!Array.isArray(left)) return String(left);
  const lines = (left as IoTsError[]).map((e) => {
    const context = e.context ?? [];
    const path = context.filter((c, i) => c.key !== '' && !COMBINATORS.has(context[i - 1]?.type._tag ?? '')).map((c) => c.key);
    const expected = e.context?.at(-1)?.type.name ?? 'a valid value';
    const got = e.value === undefined ? 'nothing (unset)' : JSON.stringify(e.value);
    return e.message ?? `${prefix}${path.join('.') || '*'}: expected ${expected}, got ${got}`;
  });
  return [...new Set(lines)].join('; ');
}

/**
 * Decodes a factory's settings from `env` and builds its handler: what the
 * worker does for a module whose default export is a factory, and what a
 * plugin's tests do to build it the same way.
 */
export async function buildHandler<S>(
  factory: HandlerFactory<S>,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): Promise<AnyHandler> {
  const prefix = settingsPrefix(factory.handlerName);
  const decoded = factory.settings.decode(settingsInput(factory.handlerName, env));
  if (decoded._tag === 'Left') {
    throw new HandlerSettingsError(`settings of "${factory.handlerName}" (${prefix}*): ${describeErrors(prefix, decoded.left)}`);
  }
  return factory({ settings: decoded.right, logger });
}

/**
 * Types a handler factory: `settings` is the codec's type, `create` returns
 * the handler. The result is the `(deps) => handler` function a module
 * exports by default.
 */
export function defineHandlerFactory<S, const P extends EventPattern>(definition: {
  /** The handler's name, also the prefix of its settings variables. */
  name: string;
  settings: SettingsCodec<S>;
  create(deps: HandlerDeps<S>): Handler<P> | Promise<Handler<P>>;
}): HandlerFactory<S> {
  const factory = async (deps: HandlerDeps<S>) => (await definition.create(deps)) as unknown as AnyHandler;
  return Object.assign(factory, { handlerName: definition.name, settings: definition.settings });
}

/** Whether a module's export is a factory built by `defineHandlerFactory` (from any copy of the kit). */
export const isHandlerFactory = (value: unknown): value is HandlerFactory =>
  typeof value === 'function' &&
  typeof (value as { handlerName?: unknown }).handlerName === 'string' &&
  typeof (value as { settings?: { decode?: unknown } }).settings?.decode === 'function';
