import { businessKeyOf, decodeDelivery, occurredAtOf } from '@vouchflow/schema';
import type { AnyHandler, HandlerContext, HandlerOutcome } from '../handler.js';
import { PermanentError } from '../errors/permanent-error.js';
import { RetryLaterError } from '../errors/retry-later-error.js';
import { classifyError, type ErrorKind } from '../errors/brand.js';
import { deepFreeze, type AnyHandlerEvent } from '../readonly.js';
import { subscribesTo } from '../matches.js';
import { captureLogger, type LogLine } from './capture-logger.js';
import { loadFixture } from './fixtures.js';

/** Anything thrown as an Error, as the worker sees it: a thrown string or object keeps its text. */
function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  let text: string;
  try {
    text = JSON.stringify(thrown) ?? String(thrown);
  } catch {
    text = String(thrown);
  }
  return new Error(`Non-error value thrown: ${text}`, { cause: thrown });
}

/** How to run the handler; everything has a default that matches a first try. */
export interface RunOptions {
  /** The try number `ctx.attempt` reports. @defaultValue 1 */
  attempt?: number;
  /** Aborts the run like the worker's timeout would. @defaultValue the handler's `timeoutMs`, else 30 seconds */
  timeoutMs?: number;
  /** An extra signal to abort the run with (simulates a worker shutdown). */
  signal?: AbortSignal;
  /** @defaultValue `${handler.name}:${transaction id, else event id}`, as the worker computes it */
  idempotencyKey?: string;
  /**
   * Runs the unit as the worker runs one in doubt (an earlier run never
   * ended): `ctx.inDoubt` is true, and the handler's `wasDone`, if it has one,
   * is asked first, with the same context. `true` ends the run without
   * `handle` (status `skipped`); `false` runs `handle`; a throw is the run's
   * failure. @defaultValue false
   */
  inDoubt?: boolean;
}

/** What a run did. */
export type RunResult = {
  /** The decoded delivery the handler received, frozen as the worker freezes it. */
  event: AnyHandlerEvent;
  /** The context it received. */
  ctx: HandlerContext;
  /** Every line it logged through `ctx.logger`. */
  logs: LogLine[];
  /** With `inDoubt`, what `wasDone` answered; undefined when it was not asked (no `wasDone`, not in doubt) or threw. */
  wasDone?: boolean;
} & (
  | { status: 'done'; outcome: void }
  | { status: 'skipped'; outcome: HandlerOutcome; skipped: string }
  | {
      status: 'failed';
      error: Error;
      /** What the worker would do: dead-letter now, retry after `retryAfterMs`, or retry with backoff. */
      errorKind: ErrorKind;
      /** Only for `retry-later`. */
      retryAfterMs?: number;
    }
);

/** A structural handler is enough: plain-JavaScript handlers are tested the same way. */
type Runnable = Pick<AnyHandler, 'name' | 'events' | 'timeoutMs'> & {
  handle(event: never, ctx: HandlerContext): Promise<unknown>;
  wasDone?(event: never, ctx: HandlerContext): Promise<boolean>;
};

/** The reason a unit in doubt ends without running, as the worker words it. */
const CONFIRMED_BY_WAS_DONE = 'already done, as wasDone confirmed';

/**
 * Runs a handler once, the way the worker would: the delivery is decoded with
 * the project's codecs and deep-frozen (a handler that changes the event
 * fails here as it would in production), the context is real (a logger whose lines are
 * captured, an AbortSignal with the handler's timeout, the idempotency key and
 * occurrence time derived like the worker derives them). Never throws for
 * what the handler does; throws when the delivery does not decode or the
 * handler does not subscribe to it, since that is a mistake in the test.
 *
 * @param delivery a parsed delivery, or a fixture name or JSON path for `loadFixture`
 */
export async function runHandler(handler: Runnable, delivery: unknown, options: RunOptions = {}): Promise<RunResult> {
  const input = typeof delivery === 'string' ? loadFixture(delivery) : delivery;
  const decoded = decodeDelivery(input);
  if (decoded._tag === 'Left') throw decoded.left;
  // An unknown type reaches a pattern handler, as in the worker; a handler of exact names is refused below.
  const event: AnyHandlerEvent = deepFreeze(decoded.right.event);
  if (!subscribesTo(handler.events, event.event.type)) {
    throw new Error(
      `runHandler: handler "${handler.name}" does not subscribe to ${event.event.type} (events: ${handler.events.join(', ')})`,
    );
  }

  const attempt = options.attempt ?? 1;
  const { logger, lines } = captureLogger({ eventId: event.event.id, eventType: event.event.type, handler: handler.name, attempt });
  const timeout = AbortSignal.timeout(options.timeoutMs ?? handler.timeoutMs ?? 30_000);
  const ctx: HandlerContext = {
    logger,
    signal: options.signal ? AbortSignal.any([timeout, options.signal]) : timeout,
    attempt,
    idempotencyKey: options.idempotencyKey ?? `${handler.name}:${businessKeyOf(decoded.right.event)}`,
    inDoubt: options.inDoubt ?? false,
    occurredAt: occurredAtOf(decoded.right.event),
    errors: { PermanentError, RetryLaterError },
  };

  let base: { event: AnyHandlerEvent; ctx: HandlerContext; logs: LogLine[]; wasDone?: boolean } = { event, ctx, logs: lines };
  try {
    if (ctx.inDoubt && handler.wasDone) {
      // Only `true` counts, as in the worker: anything else runs the handler.
      const answer = (await handler.wasDone(event as never, ctx)) === true;
      base = { ...base, wasDone: answer };
      if (answer) return { ...base, status: 'skipped', outcome: { skipped: CONFIRMED_BY_WAS_DONE }, skipped: CONFIRMED_BY_WAS_DONE };
      // An answer after the signal aborted (timeout, shutdown) does not let the effect start.
      ctx.signal.throwIfAborted();
    }
    const outcome = (await handler.handle(event as never, ctx)) as HandlerOutcome | void;
    if (outcome && typeof outcome.skipped === 'string') return { ...base, status: 'skipped', outcome, skipped: outcome.skipped };
    return { ...base, status: 'done', outcome: undefined };
  } catch (thrown) {
    const error = asError(thrown);
    const errorKind = classifyError(error);
    return {
      ...base,
      status: 'failed',
      error,
      errorKind,
      ...(errorKind === 'retry-later' ? { retryAfterMs: (error as RetryLaterError).delayMs } : {}),
    };
  }
}
