/**
 * The mark the kit's errors carry. A plugin may bring its own copy of the kit
 * (its own `node_modules/@vouchflow/handler-kit`), whose classes are not the
 * worker's, so `instanceof` alone would miss its errors. `Symbol.for` gives
 * every copy the same key, and the classes' `instanceof` reads it.
 */
export const ERROR_KIND: unique symbol = Symbol.for('@vouchflow/handler-kit:error-kind') as never;

/** What the worker does with an error a handler threw. */
export type ErrorKind = 'permanent' | 'retry-later' | 'retryable';

/** The kind an error is branded with, from any copy of the kit; `retryable` for anything else. */
export function classifyError(error: unknown): ErrorKind {
  const kind = typeof error === 'object' && error !== null ? (error as { [ERROR_KIND]?: unknown })[ERROR_KIND] : undefined;
  return kind === 'permanent' || kind === 'retry-later' ? kind : 'retryable';
}

/**
 * `instanceof` for a branded class: true for its errors from any copy of the
 * kit; a subclass keeps ordinary prototype checks.
 */
export function brandedInstanceOf(base: abstract new (...args: never[]) => unknown, kind: ErrorKind) {
  return function (this: unknown, value: unknown): boolean {
    if (this === base) return classifyError(value) === kind;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  };
}
