import type * as t from 'io-ts';
import fc from 'fast-check';
import { isLeft, isRight } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeDelivery, driftOf, Envelope, EVENT_DATA, isKnownEventType } from '../src/index.js';
import { allDeliveries, clone, delivery, type Loose } from './fixtures.js';

type Path = (string | number)[];

/** Every node of a JSON value, by path; the root is []. */
function pathsOf(value: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...at, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) pathsOf(v, [...at, k], out);
  return out;
}

const get = (root: unknown, path: Path): unknown => path.reduce<unknown>((node, key) => (node as Loose)[key], root);

/** What a mutation does at a node: drop it, replace it with any JSON, or add a key to it. */
type Mutation = { kind: 'delete' } | { kind: 'replace'; value: unknown } | { kind: 'add-key'; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: 'delete' as const }),
  fc.record({ kind: fc.constant('replace' as const), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({
    kind: fc.constant('add-key' as const),
    key: fc.string({ minLength: 1, maxLength: 8 }),
    value: fc.jsonValue({ maxDepth: 1 }),
  }),
);

function apply(root: Loose, path: Path, m: Mutation): Loose {
  if (path.length === 0) return m.kind === 'replace' ? (m.value as Loose) : root;
  const parent = get(root, path.slice(0, -1)) as Loose;
  const key = path[path.length - 1]!;
  if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (m.kind === 'replace') parent[key] = m.value;
  else {
    const node = parent[key];
    if (typeof node === 'object' && node !== null && !Array.isArray(node)) (node as Loose)[m.key] = m.value;
  }
  return root;
}

const fixtures = allDeliveries();
/** A fixture with one to three mutations at random places. */
const mutated = fc
  .record({
    index: fc.nat({ max: fixtures.length - 1 }),
    steps: fc.array(fc.tuple(fc.nat(), mutation), { minLength: 1, maxLength: 3 }),
  })
  .map(({ index, steps }) => {
    let json = clone(fixtures[index]!.json) as Loose;
    for (const [pick, m] of steps) {
      const paths = pathsOf(json);
      json = apply(json, paths[pick % paths.length]!, m);
    }
    return json;
  });

// `data.buckets[0].bucket.total_points: …` or `(root): …`: a path, a colon, then words.
const NAMES_A_PATH = /^(\(root\)|[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*|\[\d+\])*): \S/;

function expectNeverThrowsAndNamesPaths(input: unknown): void {
  const result = decodeDelivery(input);
  if (isLeft(result)) {
    expect(result.left.problems.length).toBeGreaterThan(0);
    for (const problem of result.left.problems) expect(problem).toMatch(NAMES_A_PATH);
  }
  const drift = driftOf(input);
  expect(Array.isArray(drift) && drift.every((p) => typeof p === 'string')).toBe(true);
}

describe('decoding mutated fixtures', () => {
  it('never throws, and every error names a path', () => {
    fc.assert(fc.property(mutated, expectNeverThrowsAndNamesPaths), { numRuns: 1500 });
  });

  it("agrees with io-ts' decode, which the fast path skips", () => {
    fc.assert(
      fc.property(mutated, (json) => {
        const type = json?.['event']?.['type'];
        const data = json?.['data'];
        const envelope = Envelope.decode(json);
        const codec = typeof type === 'string' && isKnownEventType(type) ? (EVENT_DATA[type] as t.Mixed) : undefined;
        const valid = isRight(envelope) && (!codec || isRight(codec.decode(data)));
        expect(isRight(decodeDelivery(json))).toBe(valid);
        expect(Envelope.is(json) && (!codec || codec.is(data))).toBe(valid);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary input either', () => {
    fc.assert(fc.property(fc.anything(), expectNeverThrowsAndNamesPaths), { numRuns: 500 });
    fc.assert(fc.property(fc.jsonValue(), expectNeverThrowsAndNamesPaths), { numRuns: 500 });
  });

  it('still decodes when Voucherify adds a key anywhere, and drift names it', () => {
    const withObjects = fixtures.map((f) => ({ json: f.json, objects: pathsOf(f.json).filter((p) => isObject(get(f.json, p))) }));
    const addition = fc
      .record({ index: fc.nat({ max: fixtures.length - 1 }), pick: fc.nat(), value: fc.jsonValue({ maxDepth: 1 }) })
      .map(({ index, pick, value }) => {
        const { json, objects } = withObjects[index]!;
        return { json, at: objects[pick % objects.length]!, value };
      });
    fc.assert(
      fc.property(addition, ({ json, at, value }) => {
        const before = decodeDelivery(json);
        const changed = clone(json) as Loose;
        (get(changed, at) as Loose)['zz_new_key'] = value;
        const after = decodeDelivery(changed);
        expect(isRight(after)).toBe(true);
        expect(isRight(after) && isRight(before) && after.right.known).toBe(isRight(before) && before.right.known);
        // Reported as the new key's path, unless it landed in a free-form object (metadata, unspecified details).
        const expected = [...at.map((k) => (typeof k === 'number' ? '[]' : `.${k}`)), '.zz_new_key']
          .join('')
          .replace(/^\./, '')
          .replace(/\.\[\]/g, '[]');
        expect([[], [expected]]).toContainEqual(driftOf(changed));
      }),
      { numRuns: 500 },
    );
  });

  it('names the exact path of a required number given another type', () => {
    const seed = delivery('points_added');
    const fields = ['total', 'points', 'balance'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...fields),
        fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.nat(), { maxLength: 2 })),
        (field, value) => {
          const changed = clone(seed);
          changed.data.balance[field] = value;
          const result = decodeDelivery(changed);
          expect(isLeft(result) && result.left.problems).toEqual([
            expect.stringMatching(new RegExp(`^data\\.balance\\.${field}: expected number, got `)),
          ]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
