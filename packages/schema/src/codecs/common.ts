import * as t from 'io-ts';

/** A value that may be sent as `null`. */
export const nullable = <C extends t.Mixed>(codec: C) => t.union([codec, t.null], `${codec.name} | null`);

/**
 * `{ ...required, ...optional }` in one codec: io-ts' intersection of a
 * `t.type` and a `t.partial`, whose decoding, error paths and shape (for drift
 * and the README's table) it keeps. Only `is`, which runs on every delivery
 * (decode.ts's fast path), is one loop instead of two codecs' checks, with
 * the same answer.
 */
export function struct<R extends t.Props, O extends t.Props>(name: string, required: R, optional: O) {
  const base = t.intersection([t.type(required, name), t.partial(optional, name)], name);
  const requiredKeys = Object.keys(required);
  const optionalKeys = Object.keys(optional);
  const is = (u: unknown): u is t.TypeOf<typeof base> => {
    if (!t.UnknownRecord.is(u)) return false;
    for (const k of requiredKeys) if (!required[k]!.is(u[k])) return false;
    for (const k of optionalKeys) {
      const v = u[k];
      if (v !== undefined && !optional[k]!.is(v)) return false;
    }
    return true;
  };
  return new t.IntersectionType(name, is, base.validate, base.encode, base.types) as typeof base;
}

/** Free-form key/value pairs a Voucherify user attaches; any keys, never drift. */
export const Metadata = t.UnknownRecord;

/**
 * A string field whose documented values Voucherify may extend. Any string
 * decodes (a new value must not dead-letter a good event); the type still
 * lists the known values so editors complete them and a `switch` reads well.
 * Built on `t.Type` itself, the stable core of io-ts.
 */
export const openString = <K extends string>(name: string, _known: readonly K[]) =>
  new t.Type<K | (string & {}), string, unknown>(
    // Errors read "expected string (TransactionType), got 5": the reader learns any string will do.
    `string (${name})`,
    (u): u is K | (string & {}) => typeof u === 'string',
    (u, c) => (typeof u === 'string' ? t.success(u) : t.failure(u, c)),
    t.identity,
  );
