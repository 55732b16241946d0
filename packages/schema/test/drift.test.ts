import * as t from 'io-ts';
import { isRight } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeDelivery, driftOf, nullable, unknownKeys } from '../src/index.js';
import { delivery as fixture } from './fixtures.js';

const Item = t.intersection([t.type({ id: t.string }), t.partial({ note: nullable(t.string) })]);
const Doc = t.type({
  name: t.string,
  owner: nullable(t.partial({ id: t.string, metadata: t.UnknownRecord })),
  items: t.array(Item),
  tags: t.union([t.array(t.string), t.string]),
});

describe('unknownKeys', () => {
  it('lists unknown keys at every depth as dotted paths, sorted, array elements as []', () => {
    const value = {
      name: 'x',
      extra: 1,
      owner: { id: 'o', metadata: { anything: true }, nickname: 'n' },
      items: [
        { id: 'a', colour: 'red' },
        { id: 'b', colour: 'blue', size: 2 },
      ],
      tags: 'one',
    };
    expect(unknownKeys(Doc, value)).toEqual(['extra', 'items[].colour', 'items[].size', 'owner.nickname']);
    expect(unknownKeys(Doc, value, 'data')).toContain('data.owner.nickname');
  });

  it('knows both halves of an intersection and never counts free-form records', () => {
    expect(unknownKeys(Doc, { name: 'x', owner: null, items: [{ id: 'a', note: null }], tags: ['a'] })).toEqual([]);
    expect(unknownKeys(Doc, { name: 'x', owner: { metadata: { a: { b: 1 } } }, items: [], tags: [] })).toEqual([]);
  });

  it('does not throw on values that do not match the codec', () => {
    expect(unknownKeys(Doc, 'nope')).toEqual([]);
    expect(unknownKeys(Doc, { items: 'nope', owner: 5, tags: { x: 1 }, more: 1 })).toEqual(['more']);
    expect(unknownKeys(Doc, null)).toEqual([]);
  });
});

describe('driftOf', () => {
  it('reports keys Voucherify added to a known event, in the envelope and in data', () => {
    const delivery = fixture('points_added');
    delivery.api_version = '2025-01-01';
    delivery.event.region = 'eu1';
    delivery.data.voucher.loyalty_card.tier = 'gold';
    delivery.data.transaction.details.balance.currency = 'PTS';
    delivery.data.customer.metadata.anything = 1;
    expect(driftOf(delivery)).toEqual([
      'api_version',
      'data.transaction.details.balance.currency',
      'data.voucher.loyalty_card.tier',
      'event.region',
    ]);
  });

  it('gives the same answer for the decoded event', () => {
    const delivery = fixture('points_expired');
    delivery.data.buckets[0].origin = 'order';
    const decoded = decodeDelivery(delivery);
    expect(isRight(decoded) && driftOf(decoded.right.event)).toEqual(['data.buckets[].origin']);
  });

  it('checks only the envelope of an unfamiliar event, and nothing of a non-object', () => {
    const delivery = fixture('points_added');
    delivery.event.type = 'customer.brand_new';
    delivery.data.whatever = 1;
    delivery.flavour = 'new';
    expect(driftOf(delivery)).toEqual(['flavour']);
    expect(driftOf('text')).toEqual([]);
    expect(driftOf([delivery])).toEqual([]);
  });
});
