/*
 * Deliveries to test against, for this package's tests, the end-to-end tests
 * and plugin authors: the spec's examples as Voucherify sends them
 * (fixtures/spec, made by scripts/spec-fixtures.ts) and realistic variants of
 * any delivery. Reads files, so it is a subpath of its own
 * (`@vouchflow/schema/testing`), never loaded by the apps.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dataKeysOf } from '../data-keys.js';
import { EVENT_DATA, isKnownEventType } from '../events.js';

const FIXTURES = resolve(import.meta.dirname, '../../fixtures');

// A delivery opened up for rewriting: variants reach into any path.
type Json = Record<string, unknown>;

/** One of the spec's examples wrapped in the envelope: `name` is its file's name, its `event.type`. */
export interface SpecDelivery {
  name: string;
  delivery: Json;
}

/** The spec's 72 examples, as Voucherify sends them; fresh copies each call. */
export function specDeliveries(): SpecDelivery[] {
  const dir = join(FIXTURES, 'spec');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f.replace(/\.json$/, ''), delivery: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Json }));
}

interface Shape {
  required: string[];
  nullable: string[];
}
let shapes: Record<string, Shape> | undefined;
/** What the spec's schema says of a type's top-level `data` keys. */
const shapeOf = (type: string): Shape | undefined =>
  (shapes ??= (JSON.parse(readFileSync(join(FIXTURES, 'spec-meta', 'shapes.json'), 'utf8')) as { shapes: Record<string, Shape> }).shapes)[
    type
  ];

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Rewrites every node of a JSON value bottom-up; `fn` gets the key the node sits under. */
function mapJson(value: unknown, fn: (node: unknown, key: string | undefined) => unknown, key?: string): unknown {
  let node = value;
  if (Array.isArray(node)) node = node.map((v) => mapJson(v, fn));
  else if (isObject(node)) node = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, mapJson(v, fn, k)]));
  return fn(node, key);
}

const ISO_WITH_MS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+(Z|[+-]\d\d:\d\d)$/;
const ISO_WITHOUT_MS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(Z|[+-]\d\d:\d\d)$/;

// Keys whose objects are a party (a customer), thinned to its id in one variant; a code's `holder` record is not one.
const PARTIES = new Set(['customer', 'holder', 'referrer']);
// Free-form objects: an extra key there is not drift, and their content is the user's.
const FREE_FORM = new Set(['metadata', 'system_metadata', 'details', 'rules', 'applicable_to']);

/** A realistic variant of a delivery: what it changes, and the delivery with its own event id. */
export interface Variant {
  variant: string;
  delivery: Json;
}

/**
 * Deliveries like this one as Voucherify also sends them; each keeps every
 * key the event's codec requires (a delivery without them is not realistic,
 * it is trimmed), and gets its own `event.id`:
 *
 * - `nulls`: every top-level key the spec allows to be null, null;
 * - `gaps`: every top-level key the spec does not require left out, and the
 *   transaction trimmed as project webhooks send it;
 * - `extras`: a key nobody knows added to `data` and to each object in it;
 * - `dates`: date-times with milliseconds sent without, and those without sent with;
 * - `thin-parties`: every customer, holder and referrer only `{id, object}`,
 *   and `event.event_source.user` null;
 * - `gift-card`, `referral-card`: the voucher a gift card with credits, or a
 *   referral code (for events that carry a voucher).
 *
 * Variants that would change nothing are left out.
 */
export function realisticVariants(delivery: Json): Variant[] {
  const event = delivery['event'] as Json;
  const type = String(event['type']);
  const data = delivery['data'] as Json;
  const required = new Set(isKnownEventType(type) ? dataKeysOf(EVENT_DATA[type]).required : []);
  const shape = shapeOf(type) ?? { required: [], nullable: [] };
  const out: Variant[] = [];
  const add = (variant: string, newData: Json, envelope: (e: Json) => Json = (e) => e) => {
    out.push({
      variant,
      delivery: {
        ...structuredClone(delivery),
        data: newData,
        event: envelope({ ...structuredClone(event), id: `${String(event['id'])}-${variant}` }),
      },
    });
  };

  const nullable = shape.nullable.filter((k) => !required.has(k) && k in data && data[k] !== null);
  if (nullable.length > 0) add('nulls', { ...structuredClone(data), ...Object.fromEntries(nullable.map((k) => [k, null])) });

  const gaps = structuredClone(data);
  for (const k of Object.keys(gaps)) if (!required.has(k) && !shape.required.includes(k)) delete gaps[k];
  if (isObject(gaps['transaction'])) {
    const { id, campaign_id, type: txType, created_at } = gaps['transaction'];
    gaps['transaction'] = { id, campaign_id, type: txType, details: null, created_at };
  }
  if (JSON.stringify(gaps) !== JSON.stringify(data)) add('gaps', gaps);

  add(
    'extras',
    mapJson(structuredClone(data), (node, key) =>
      isObject(node) && !(key && FREE_FORM.has(key)) ? { ...node, zz_added_by_voucherify: { since: '2026-12-01' } } : node,
    ) as Json,
  );

  let dated = false;
  const dates = mapJson(structuredClone(data), (node) => {
    if (typeof node !== 'string') return node;
    const withMs = ISO_WITH_MS.exec(node);
    if (withMs) return ((dated = true), `${withMs[1]}${withMs[2]}`);
    const withoutMs = ISO_WITHOUT_MS.exec(node);
    if (withoutMs) return ((dated = true), `${withoutMs[1]}.000${withoutMs[2]}`);
    return node;
  }) as Json;
  if (dated) add('dates', dates);

  add(
    'thin-parties',
    mapJson(structuredClone(data), (node, key) =>
      key && PARTIES.has(key) && isObject(node) && typeof node['id'] === 'string' && (node['object'] ?? 'customer') === 'customer'
        ? { id: node['id'], object: 'customer' }
        : node,
    ) as Json,
    (e) => ({ ...e, event_source: { ...(isObject(e['event_source']) ? e['event_source'] : { channel: 'API' }), user: null } }),
  );

  if (isObject(data['voucher'])) {
    const voucher = data['voucher'];
    add('gift-card', {
      ...structuredClone(data),
      voucher: { ...voucher, type: 'GIFT_VOUCHER', gift: { amount: 10000, balance: 7500, effect: 'APPLY_TO_ORDER' }, loyalty_card: null },
    });
    add('referral-card', {
      ...structuredClone(data),
      voucher: {
        ...voucher,
        type: 'DISCOUNT_VOUCHER',
        is_referral_code: true,
        discount: { type: 'AMOUNT', amount_off: 1000, effect: 'APPLY_TO_ORDER' },
        loyalty_card: null,
      },
    });
  }
  return out;
}

/** Every spec example and each of its realistic variants: what the tests send through the whole stack. */
export function realisticDeliveries(): Variant[] {
  return specDeliveries().flatMap(({ delivery }) => [{ variant: 'example', delivery }, ...realisticVariants(delivery)]);
}
