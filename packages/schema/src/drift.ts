import * as t from 'io-ts';
import { Envelope } from './codecs/envelope.js';
import { EVENT_DATA, isKnownEventType, type EventType } from './events.js';

/** The keys an object codec knows, each with the codec(s) of its value; `open` when any key is allowed. */
interface Shape {
  props: Map<string, t.Mixed[]>;
  open: boolean;
}

const shapes = new WeakMap<t.Mixed, Shape | null>();

function unwrap(codec: t.Mixed): t.Mixed {
  let c = codec;
  while (c instanceof t.ReadonlyType || c instanceof t.ExactType || c instanceof t.RefinementType) c = c.type as t.Mixed;
  return c;
}

/** The object shape a codec describes, or null when it does not describe an object. Cached: codecs are immutable. */
function shapeOf(codec: t.Mixed): Shape | null {
  const cached = shapes.get(codec);
  if (cached !== undefined) return cached;
  let shape: Shape | null = null;
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) {
    const props = codec.props as t.Props;
    shape = { props: new Map(Object.keys(props).map((k) => [k, [props[k]!]])), open: false };
  } else if (codec instanceof t.IntersectionType) {
    shape = { props: new Map(), open: false };
    for (const member of codec.types as t.Mixed[]) {
      const part = shapeOf(unwrap(member));
      if (!part) continue;
      shape.open ||= part.open;
      for (const [k, cs] of part.props) shape.props.set(k, [...(shape.props.get(k) ?? []), ...cs]);
    }
  } else if (
    codec instanceof t.AnyDictionaryType ||
    codec instanceof t.DictionaryType ||
    codec instanceof t.UnknownType ||
    codec instanceof t.AnyType
  ) {
    shape = { props: new Map(), open: true };
  }
  shapes.set(codec, shape);
  return shape;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const nonNullBranches = new WeakMap<t.Mixed, t.Mixed[]>();

/** The branch of a union the value decoded with. nullable(X) given a non-null value is X, found without a costly `is`. */
function branchFor(union: t.UnionType<t.Mixed[]>, value: unknown): t.Mixed | undefined {
  let branches = nonNullBranches.get(union);
  if (!branches) {
    branches = union.types.filter((b) => !(b instanceof t.NullType));
    nonNullBranches.set(union, branches);
  }
  if (branches.length === 1) return branches[0];
  return branches.find((b) => b.is(value)) ?? branches.find((b) => shapeOf(unwrap(b)) !== null);
}

function walk(codec: t.Mixed, value: unknown, path: string, out: Set<string>): void {
  const c = unwrap(codec);
  if (c instanceof t.UnionType) {
    if (value === null || value === undefined) return;
    const branch = branchFor(c as t.UnionType<t.Mixed[]>, value);
    if (branch) walk(branch, value, path, out);
    return;
  }
  if (c instanceof t.ArrayType || c instanceof t.ReadonlyArrayType) {
    // `[]` rather than an index: the paths feed a metric, whose labels must stay few.
    if (Array.isArray(value)) for (const item of value) walk(c.type as t.Mixed, item, `${path}[]`, out);
    return;
  }
  const shape = shapeOf(c);
  if (!shape || !isPlainObject(value)) return;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const codecs = shape.props.get(key);
    const child = value[key];
    // Primitives hold no keys: skip them before building a path string.
    if (codecs && (typeof child !== 'object' || child === null)) continue;
    const at = path ? `${path}.${key}` : key;
    if (!codecs) {
      if (!shape.open) out.add(at);
      continue;
    }
    for (const inner of codecs) walk(inner, child, at, out);
  }
}

/**
 * Keys present in `value` that `codec` does not know, as dotted paths
 * (`data.voucher.loyalty_card.tier`, array elements as `data.buckets[].x`),
 * sorted and without repeats. io-ts lets unknown keys through, so a payload
 * Voucherify has extended still decodes; this says what changed before it
 * ever fails. Free-form objects (`metadata`) never count. Never throws.
 */
export function unknownKeys(codec: t.Mixed, value: unknown, base = ''): string[] {
  const out = new Set<string>();
  walk(codec, value, base, out);
  return [...out].sort();
}

const deliveryCodecs = new Map<EventType, t.Mixed>();

/** The whole delivery of a known event as one codec: the envelope with `data` typed. Built once per event. */
function deliveryCodec(type: EventType): t.Mixed {
  let codec = deliveryCodecs.get(type);
  if (!codec) {
    codec = t.type({ ...Envelope.props, data: EVENT_DATA[type] }, `Delivery<${type}>`);
    deliveryCodecs.set(type, codec);
  }
  return codec;
}

/**
 * Schema drift of a delivery: the keys it carries that its codec does not
 * know (see `unknownKeys`). Takes the parsed JSON, or a decoded event (decoding
 * keeps unknown keys). For an unfamiliar event type only the envelope is
 * checked; its `data` has no codec to drift from.
 */
export function driftOf(delivery: unknown): string[] {
  if (!isPlainObject(delivery)) return [];
  const event = delivery['event'];
  const type = isPlainObject(event) ? event['type'] : undefined;
  const codec = typeof type === 'string' && isKnownEventType(type) ? deliveryCodec(type) : Envelope;
  return unknownKeys(codec, delivery);
}
