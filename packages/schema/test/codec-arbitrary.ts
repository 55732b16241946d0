/*
 * fast-check arbitraries built from io-ts codecs: any value the codec
 * describes, so a property can say "whatever a codec admits decodes, and
 * has no drift". Covers the codec kinds this package uses; an unknown kind
 * throws, so a new one cannot pass unnoticed.
 */
import fc from 'fast-check';
import * as t from 'io-ts';

const date = fc
  .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true })
  .chain((d) => fc.constantFrom(d.toISOString(), d.toISOString().replace(/\.\d+Z$/, 'Z')));

const leaf = (key: string | undefined): fc.Arbitrary<string> => (key && /(_at|date)$/.test(key) ? date : fc.string({ maxLength: 12 }));

export function arbitraryOf(codec: t.Mixed, key?: string, depth = 0): fc.Arbitrary<unknown> {
  if (codec instanceof t.InterfaceType) return fc.record(propsOf(codec.props as t.Props, depth));
  if (codec instanceof t.PartialType) return fc.record(propsOf(codec.props as t.Props, depth), { requiredKeys: [] });
  if (codec instanceof t.IntersectionType)
    return fc
      .tuple(...(codec.types as t.Mixed[]).map((c) => arbitraryOf(c, key, depth)))
      .map((parts) => Object.assign({}, ...(parts as object[])) as unknown);
  if (codec instanceof t.UnionType) return fc.oneof(...(codec.types as t.Mixed[]).map((c) => arbitraryOf(c, key, depth)));
  if (codec instanceof t.ArrayType) return fc.array(arbitraryOf(codec.type as t.Mixed, key, depth + 1), { maxLength: depth > 2 ? 0 : 2 });
  if (codec instanceof t.LiteralType) return fc.constant(codec.value);
  if (codec instanceof t.NullType) return fc.constant(null);
  if (codec instanceof t.StringType) return leaf(key);
  if (codec instanceof t.NumberType)
    return fc.oneof(fc.integer({ min: -100_000, max: 100_000 }), fc.double({ noNaN: true, noDefaultInfinity: true }));
  if (codec instanceof t.BooleanType) return fc.boolean();
  // Free-form objects (metadata, kept-whole configuration): any JSON object.
  if (codec instanceof t.AnyDictionaryType || codec instanceof t.DictionaryType)
    return fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 });
  // openString: a `t.Type` whose `is` takes any string.
  if (codec.name.startsWith('string (')) return leaf(key);
  throw new Error(`no arbitrary for codec ${codec.name} (${codec.constructor.name})`);
}

function propsOf(props: t.Props, depth: number): Record<string, fc.Arbitrary<unknown>> {
  return Object.fromEntries(Object.entries(props).map(([k, c]) => [k, arbitraryOf(c as t.Mixed, k, depth + 1)]));
}
