import type { EventMap, EventType, UnknownWebhookEvent } from '@vouchflow/schema';
import type { Logger } from './logger.js';
import type { AnyHandlerEvent, DeepReadonly } from './readonly.js';
import type { PermanentError } from './errors/permanent-error.js';
import type { RetryLaterError } from './errors/retry-later-error.js';

/**
 * What a handler subscribes to: a known event name (one with a codec: that is
 * where the types come from), or a prefix ending in `*`
 * (`customer.voucher.loyalty_card.*`; `*` alone is every event). A pattern
 * also receives the events that match it but have no codec, typed
 * `UnknownWebhookEvent`: `customer.*` gets a `customer.` type Voucherify adds
 * next month.
 */
export type EventPattern = EventType | `${string}*`;

/** The event names a pattern matches, so `handle` receives exactly those types. */
export type MatchedEvent<P extends string> = P extends `${infer Prefix}*`
  ? Extract<EventType, `${Prefix}${string}`>
  : Extract<EventType, P>;

/** The unknown events a pattern matches: none for exact names. */
export type UnmatchedEvent<P extends string> = P extends `${infer Prefix}*` ? UnknownWebhookEvent<`${Prefix}${string}`> : never;

/**
 * What `handle` receives for the subscriptions `P`: the known events they
 * name or match, typed, and for patterns the unknown events they match, with
 * `data: unknown` (`isKnownEvent` tells them apart).
 */
export type HandlerEvent<P extends string> = DeepReadonly<EventMap[MatchedEvent<P>] | UnmatchedEvent<P>>;

/** Everything a handler gets besides the event. It imports nothing from the worker. */
export interface HandlerContext {
  /** Scoped to this unit of work: eventId, eventType, handler, jobId, attempt. Write-only: it cannot be closed or reconfigured. */
  logger: Logger;
  /** Aborted when the handler's timeout passes or the worker shuts down; pass it to fetch and friends. */
  signal: AbortSignal;
  /** 1 on the first try. Retries after a `RetryLaterError` keep the same number. */
  attempt: number;
  /**
   * Stable for the business fact (the loyalty transaction id, else the event
   * id) and this handler. Send it to downstreams that accept one.
   */
  idempotencyKey: string;
  /**
   * True when an earlier run of this unit started and never ended (its worker
   * process died or froze past its claim), so its effect may already have
   * happened: pass `idempotencyKey` downstream if you can. With `wasDone`, it
   * is asked first; still true if `wasDone` said false.
   */
  inDoubt: boolean;
  /** When the change happened (transaction time, else event time), for refusing out-of-order updates. */
  occurredAt: Date;
  /** The error classes, handed over so a plain-JavaScript handler needs no import. */
  errors: { PermanentError: typeof PermanentError; RetryLaterError: typeof RetryLaterError };
}

/** A run may finish without doing its effect on purpose (no e-mail address, an older update): say why. */
export interface HandlerOutcome {
  skipped: string;
}

/** Optional limit on how often a handler starts, across all worker processes. */
export interface RateLimit {
  /** Runs allowed per window. */
  max: number;
  /** Window length in milliseconds. */
  durationMs: number;
}

/**
 * A handler's circuit breaker: after `failures` failures in a row (not
 * `PermanentError`) within `windowMs`, its units stop running and wait,
 * spending no attempt, for `cooldownMs`; then one probe unit runs. Its success
 * closes the breaker; its failure keeps it open twice as long (up to the
 * worker's CIRCUIT_COOLDOWN_MAX_MS). Unset fields take the worker's settings.
 */
export interface CircuitSettings {
  /** Failures in a row that open it. @defaultValue 10 (CIRCUIT_FAILURES) */
  failures?: number;
  /** They must all fall within this many milliseconds. @defaultValue 60000 (CIRCUIT_WINDOW_MS) */
  windowMs?: number;
  /** How long it stays open before a probe, in milliseconds. @defaultValue 30000 (CIRCUIT_COOLDOWN_MS) */
  cooldownMs?: number;
}

/**
 * A handler: one side effect, done idempotently. A plain object; `defineHandler`
 * only adds types.
 */
export interface Handler<P extends EventPattern = EventPattern> {
  /** Unique and stable: it names the handler's queue, its metrics and its dead letters. Lowercase, `-`, `_`. */
  name: string;
  /** Events it subscribes to. */
  events: readonly P[];
  /** `event` is deeply read-only (the worker freezes it): copy what you need to change. */
  handle(event: HandlerEvent<P>, ctx: HandlerContext): Promise<HandlerOutcome | void>;
  /**
   * Asked only for a unit in doubt (`ctx.inDoubt`: an earlier run started and
   * never ended), before running it again: did that effect happen? Look it up
   * downstream by `ctx.idempotencyKey`; do not do the effect here. `true`
   * records the unit done without running it; `false` runs it. A throw counts
   * as a failed try (the unit stays in doubt and is asked again on its retry).
   * Without it, a unit in doubt runs again.
   */
  wasDone?(event: HandlerEvent<P>, ctx: HandlerContext): Promise<boolean>;
  /** Units of work run at once per worker process. @defaultValue 10 */
  concurrency?: number;
  rateLimit?: RateLimit;
  /** After this the signal aborts and the try counts as failed. @defaultValue 30 seconds */
  timeoutMs?: number;
  /**
   * Its circuit breaker (see {@link CircuitSettings}); `false` turns it off, so
   * every failure spends an attempt even while the downstream is down.
   * @defaultValue on, with the worker's CIRCUIT_* settings
   */
  circuit?: false | CircuitSettings;
}

/**
 * A handler of any events, as the worker holds them. `handle` is a method, so
 * a handler of some events is assignable here (method parameters are bivariant).
 */
export interface AnyHandler extends Omit<Handler, 'events' | 'handle' | 'wasDone'> {
  events: readonly string[];
  handle(event: AnyHandlerEvent, ctx: HandlerContext): Promise<HandlerOutcome | void>;
  wasDone?(event: AnyHandlerEvent, ctx: HandlerContext): Promise<boolean>;
}

/** Types a handler: `event` is narrowed to the events it subscribes to. */
export function defineHandler<const P extends EventPattern>(handler: Handler<P>): Handler<P> {
  return handler;
}
