import type * as t from 'io-ts';
import { isRight } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  decodeDelivery,
  driftOf,
  Envelope,
  EVENT_DATA,
  EVENT_TYPES,
  isEventOf,
  type DecodedDelivery,
  type EventType,
} from '../src/index.js';
import { allDeliveries, clone, eventFixtures, eventTypeOf, sharedFixtures, specFixtures, type Fixture } from './fixtures.js';

function decodeKnown(json: unknown): DecodedDelivery & { known: true } {
  const result = decodeDelivery(json);
  if (!isRight(result)) throw new Error(result.left.problems.join('\n'));
  if (!result.right.known) throw new Error('decoded as an unknown event');
  return result.right;
}

/** The name the same happening has in the other webhook kind, if it maps to the same codec. */
function twinOf(type: string): string | undefined {
  const other = type.startsWith('customer.') ? type.slice('customer.'.length) : `customer.${type}`;
  return Object.hasOwn(EVENT_DATA, other) && EVENT_DATA[other as keyof typeof EVENT_DATA] === EVENT_DATA[type as keyof typeof EVENT_DATA]
    ? other
    : undefined;
}

describe('fixtures', () => {
  it('has the shared fixtures and one per named event', () => {
    expect(sharedFixtures().map((f) => f.file)).toEqual(['points_added.json', 'points_expired.json']);
    for (const f of [...eventFixtures(), ...specFixtures()]) expect(f.file).toBe(`${eventTypeOf(f)}.json`);
    // One per webhook of the spec (scripts/spec-fixtures.ts), each a type with a codec.
    expect(specFixtures()).toHaveLength(72);
    expect(specFixtures().map(eventTypeOf).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it.each(allDeliveries().map((f) => [f.file, f] as const))('%s decodes as its event, with no drift', (_file, f: Fixture) => {
    const decoded = decodeKnown(f.json);
    expect(decoded.event.event.type).toBe(eventTypeOf(f));
    expect(driftOf(f.json)).toEqual([]);
  });

  it.each(allDeliveries().map((f) => [f.file, f] as const))(
    '%s decodes to itself: no codec transforms, so `is` may stand in for decode',
    (_file, f: Fixture) => {
      const envelope = Envelope.decode(f.json);
      expect(isRight(envelope) && envelope.right).toBe(f.json);
      const data = (EVENT_DATA[eventTypeOf(f) as EventType] as t.Mixed).decode(f.json['data']);
      expect(isRight(data) && data.right).toBe(f.json['data']);
    },
  );

  it('covers every event with a codec, directly or through its twin name', () => {
    const byType = new Map(allDeliveries().map((f) => [eventTypeOf(f), f]));
    for (const type of EVENT_TYPES) {
      const twin = twinOf(type);
      const fixture = byType.get(type) ?? (twin ? byType.get(twin) : undefined);
      expect(fixture, `no fixture for ${type}`).toBeDefined();
      const json = clone(fixture!.json);
      (json['event'] as { type: string }).type = type;
      expect(decodeKnown(json).event.event.type).toBe(type);
    }
  });

  it('decodes the values a handler reads', () => {
    const [added, expired] = sharedFixtures();
    const a = decodeKnown(added!.json).event;
    if (!isEventOf(a, 'customer.voucher.loyalty_card.points_added')) throw new Error(a.event.type);
    expect(a.data.balance).toMatchObject({ points: 40, balance: 2641, total: 2641 });
    expect(a.data.transaction?.id).toBe('vtx_0e6d44043e9e51d377');
    expect(a.data.customer?.email).toBeUndefined();

    const e = decodeKnown(expired!.json).event;
    if (!isEventOf(e, 'customer.voucher.loyalty_card.points_expired')) throw new Error(e.event.type);
    expect(e.data.points).toBe(70);
    expect(e.data.buckets.map((b) => [b.id, b.bucket.total_points])).toEqual([['lopb_0e7a9f1c2d3b4a5e61', 70]]);
    expect(e.data.transaction?.type).toBe('POINTS_EXPIRATION');
    expect(e.data.transaction?.details?.balance?.points).toBe(-70);
  });
});
