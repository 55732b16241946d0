import * as t from 'io-ts';

/*
 * io-ts codecs that read environment variables. Each decodes from the string
 * the environment holds and encodes back to one, so a config codec built from
 * them is also the documentation of what each variable accepts.
 */

const describe = (u: unknown): string => JSON.stringify(u);

/** A base-10 integer, within [min, max]. */
export const IntFromString = (name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) =>
  new t.Type<number, string, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max,
    (u, c) => {
      if (typeof u !== 'string' || !/^-?\d+$/.test(u.trim())) return t.failure(u, c, `expected an integer, got ${describe(u)}`);
      const n = Number(u.trim());
      if (n < min || n > max) return t.failure(u, c, `expected an integer from ${min} to ${max}, got ${n}`);
      return t.success(n);
    },
    String,
  );

/** A TCP port, 0 to 65535 (0 lets the OS choose, useful in tests). */
export const PortFromString = IntFromString('Port', 0, 65535);

/** `true`/`false` (also `1`/`0`, `yes`/`no`), case-insensitive. */
export const BooleanFromString = new t.Type<boolean, string, unknown>(
  'BooleanFromString',
  (u): u is boolean => typeof u === 'boolean',
  (u, c) => {
    const s = typeof u === 'string' ? u.trim().toLowerCase() : undefined;
    if (s === 'true' || s === '1' || s === 'yes') return t.success(true);
    if (s === 'false' || s === '0' || s === 'no') return t.success(false);
    return t.failure(u, c, `expected true or false, got ${describe(u)}`);
  },
  String,
);

/** A comma-separated list; blanks around items and empty items are dropped. */
export const CommaList = new t.Type<string[], string, unknown>(
  'CommaList',
  (u): u is string[] => Array.isArray(u) && u.every((x) => typeof x === 'string'),
  (u, c) =>
    typeof u === 'string'
      ? t.success(
          u
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
        )
      : t.failure(u, c, `expected a comma-separated list, got ${describe(u)}`),
  (a) => a.join(','),
);

/** An absolute URL with one of the given protocols (without the colon). */
export const UrlString = (name: string, protocols: readonly string[]) =>
  new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === 'string',
    (u, c) => {
      if (typeof u !== 'string') return t.failure(u, c, `expected a URL, got ${describe(u)}`);
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        return t.failure(u, c, `expected a URL, got ${redactUrl(u)}`);
      }
      const protocol = url.protocol.replace(/:$/, '');
      if (!protocols.includes(protocol)) {
        return t.failure(u, c, `expected a ${protocols.join(' or ')} URL, got protocol ${protocol}`);
      }
      return t.success(u);
    },
    String,
  );

/** A string that is not empty after trimming. */
export const NonEmptyString = new t.Type<string, string, unknown>(
  'NonEmptyString',
  (u): u is string => typeof u === 'string' && u.trim().length > 0,
  (u, c) => (typeof u === 'string' && u.trim().length > 0 ? t.success(u.trim()) : t.failure(u, c, 'expected a non-empty value')),
  String,
);

/** One of a fixed set of words. */
export const OneOf = <const T extends string>(name: string, values: readonly T[]) =>
  new t.Type<T, string, unknown>(
    name,
    (u): u is T => typeof u === 'string' && (values as readonly string[]).includes(u),
    (u, c) =>
      typeof u === 'string' && (values as readonly string[]).includes(u.trim())
        ? t.success(u.trim() as T)
        : t.failure(u, c, `expected one of ${values.join(', ')}, got ${describe(u)}`),
    String,
  );

/** Hides the password of a URL such as redis://user:pass@host so it can be logged. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return raw.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** One or more comma-separated redis:// or rediss:// URLs. */
export const RedisUrlList = new t.Type<string[], string, unknown>(
  'RedisUrlList',
  (u): u is string[] => Array.isArray(u) && u.every((x) => typeof x === 'string'),
  (u, c) => {
    const list = CommaList.validate(u, c);
    if (list._tag === 'Left') return list;
    if (list.right.length === 0) return t.failure(u, c, 'expected at least one redis:// URL');
    const url = UrlString('RedisUrl', ['redis', 'rediss']);
    for (const item of list.right) {
      const one = url.validate(item, c);
      if (one._tag === 'Left') return one;
    }
    return t.success(list.right);
  },
  (a) => a.join(','),
);
