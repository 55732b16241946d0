import * as t from 'io-ts';

/** A value that may be sent as `null`. */
export const nullable = <C extends t.Mixed>(codec: C) => t.union([codec, t.null]);

/** `{ ...required, ...optional }` in one codec. */
export const struct = <R extends t.Props, O extends t.Props>(name: string, required: R, optional: O) =>
  t.intersection([t.type(required, name), t.partial(optional, name)], name);

export const Metadata = t.UnknownRecord;
