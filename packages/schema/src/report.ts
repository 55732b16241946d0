import * as t from 'io-ts';

const MAX_ACTUAL = 60;

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    // undefined for a function or a symbol, which JSON cannot show.
    text = JSON.stringify(value) ?? `[${typeof value}]`;
  } catch {
    // A BigInt or a cycle.
    text = typeof value === 'bigint' ? value.toString() : `[${typeof value}]`;
  }
  return text.length > MAX_ACTUAL ? `${text.slice(0, MAX_ACTUAL)}…` : text;
}

// io-ts names its record codecs after themselves; a reader thinks in JSON.
const READABLE: Record<string, string> = { UnknownRecord: 'object', UnknownArray: 'array', '{ [K in string]: unknown }': 'object' };
const MAX_EXPECTED = 80;

function expectedName(context: t.Context): string {
  const name = context[context.length - 1]?.type.name ?? 'a value';
  const readable = READABLE[name] ?? name;
  return readable.length > MAX_EXPECTED ? `${readable.slice(0, MAX_EXPECTED)}…` : readable;
}

/** `data.buckets[0].id`: the path a person reads, without the union/intersection branches io-ts records. */
export function pathOf(context: t.Context, base = ''): string {
  let path = base;
  for (let i = 1; i < context.length; i++) {
    const parent = context[i - 1]!.type;
    const { key } = context[i]!;
    if (key === '' || parent instanceof t.UnionType || parent instanceof t.IntersectionType) continue;
    if (parent instanceof t.ArrayType || parent instanceof t.ReadonlyArrayType || parent instanceof t.TupleType) path += `[${key}]`;
    else path += path ? `.${key}` : key;
  }
  return path || '(root)';
}

/**
 * Every failure as `path: expected X, got Y`, one line each. Where a union's
 * branches failed at different depths, only the deepest are kept: for
 * `customer: SimpleCustomer | null` given `{ id: 5 }`, the reader wants
 * `data.customer.id: expected string, got 5`, not also `expected null`.
 */
export function formatErrors(errors: t.Errors, base = ''): string[] {
  const items = errors.map((e) => {
    const path = pathOf(e.context, base);
    const expected = e.message ?? `expected ${expectedName(e.context)}, got ${show(e.value)}`;
    return { path, expected, line: e.message ? `${path}: ${e.message}` : `${path}: ${expected}` };
  });
  const deeper = (a: string, b: string) => b.startsWith(`${a}.`) || b.startsWith(`${a}[`) || (a === (base || '(root)') && b !== a);
  const kept = items.filter((item) => !items.some((other) => deeper(item.path, other.path)));
  // Merge the branches of one union failing at the same place: "expected X or null".
  const byPath = new Map<string, string[]>();
  for (const { path, expected } of kept) {
    const list = byPath.get(path) ?? [];
    if (!list.includes(expected)) list.push(expected);
    byPath.set(path, list);
  }
  return [...byPath].map(([path, list]) => {
    if (list.length === 1) return `${path}: ${list[0]}`;
    const got = list[0]!.replace(/^.*, got /, '');
    const wanted = list.map((l) => l.replace(/^expected /, '').replace(/, got .*$/, ''));
    return `${path}: expected ${wanted.join(' or ')}, got ${got}`;
  });
}
