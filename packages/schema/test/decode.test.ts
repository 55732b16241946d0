import { isLeft, isRight, type Either } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeDelivery, DeliveryDecodeError, type DecodedDelivery } from '../src/index.js';
import { delivery as fixture } from './fixtures.js';

const seed = () => fixture('points_added');

function problemsOf(result: Either<DeliveryDecodeError, DecodedDelivery>): readonly string[] {
  if (!isLeft(result)) throw new Error('expected a decode error');
  expect(result.left).toBeInstanceOf(DeliveryDecodeError);
  return result.left.problems;
}

describe('decodeDelivery', () => {
  it('keeps an unfamiliar event type as an unknown event, data as it came', () => {
    const delivery = seed();
    delivery.event.type = 'customer.referred';
    delivery.data = { tier: { id: 'ltr_1' }, anything: [1, 2] };
    const result = decodeDelivery(delivery);
    expect(isRight(result) && result.right).toEqual({ known: false, event: delivery });
  });

  it('still checks the envelope of an unfamiliar event', () => {
    const delivery = seed();
    delivery.event.type = 'customer.brand_new';
    delete delivery.event.id;
    expect(problemsOf(decodeDelivery(delivery))).toEqual(['event.id: expected string, got nothing']);
  });

  it('routes on event.type, never the free-text top-level type', () => {
    const delivery = seed();
    delivery.type = '';
    const result = decodeDelivery(delivery);
    expect(isRight(result) && result.right.known && result.right.event.event.type).toBe('customer.voucher.loyalty_card.points_added');
    delivery.type = 'redemption.succeeded';
    expect(isRight(decodeDelivery(delivery))).toBe(true);
  });

  it('reports every failing path, readably, not only the first', () => {
    const delivery = seed();
    delivery.data.balance.points = '40';
    delivery.data.customer.id = 5;
    delete delivery.data.transaction.id;
    delivery.data.voucher.loyalty_card.points = null;
    const result = decodeDelivery(delivery);
    expect(isLeft(result) && result.left.kind).toBe('invalid-data');
    expect([...problemsOf(result)].sort()).toEqual([
      'data.balance.points: expected number, got a string',
      'data.customer.id: expected string, got a number',
      'data.transaction.id: expected string, got nothing',
      'data.voucher.loyalty_card.points: expected number, got null',
    ]);
  });

  it('names array elements by index', () => {
    const delivery = fixture('points_expired');
    delivery.data.buckets[0].bucket.total_points = 'many';
    delivery.data.buckets.push(7);
    expect(problemsOf(decodeDelivery(delivery))).toEqual([
      'data.buckets[0].bucket.total_points: expected number, got a string',
      'data.buckets[1]: expected PointsBucket, got a number',
    ]);
  });

  it('rejects the 2018-08-01 envelope, naming what is missing', () => {
    const legacy = {
      id: 'evcus_0e6d44043e9e51d3aa',
      object: 'event',
      webhook_id: 'wh_1',
      type: 'customer.voucher.loyalty_card.points_added',
      created_at: '2024-03-11T15:27:44.884Z',
      data: seed().data,
      metadata: {},
    };
    const result = decodeDelivery(legacy);
    expect(isLeft(result) && result.left.kind).toBe('legacy-envelope');
    const problems = problemsOf(result);
    expect(problems[0]).toMatch(/^\(root\): a 2018-08-01 webhook envelope .*missing project_id, source, event; .*2024-01-01/);
    expect(problems).toContain('event: expected EventMeta, got nothing');
  });

  it('rejects a custom raw payload from the payload designer, naming what is missing', () => {
    const raw = { customer_id: 'cust_1', points: 40, balance: 2641 };
    const result = decodeDelivery(raw);
    expect(isLeft(result) && result.left.kind).toBe('not-an-envelope');
    const problems = problemsOf(result);
    expect(problems[0]).toMatch(/missing id, project_id, created_at, type, data, source, event; .*payload designer/);
    expect(problems).toHaveLength(8);
  });

  it('rejects a delivery whose data a user trimmed, naming the dropped key', () => {
    const delivery = fixture('customer.voucher.loyalty_card.pending_points.added');
    delete delivery.data.pending_points;
    const result = decodeDelivery(delivery);
    expect(isLeft(result) && result.left.kind).toBe('invalid-data');
    expect(problemsOf(result)).toEqual(['data.pending_points: expected PendingPointsSubject, got nothing']);
  });

  it.each([null, 42, 'text', [1], true])('rejects %j as not a delivery, without throwing', (input) => {
    const result = decodeDelivery(input);
    expect(isLeft(result) && result.left.kind).toBe('not-an-object');
    expect(problemsOf(result)).toEqual([expect.stringMatching(/^\(root\): expected a Voucherify webhook delivery/)]);
  });

  it('accepts new values of extensible enums', () => {
    const delivery = seed();
    delivery.data.transaction.type = 'POINTS_TELEPORTATION';
    delivery.data.transaction.source = 'Shiny new channel';
    delivery.data.campaign.campaign_type = 'SUBSCRIPTION_PROGRAM';
    delivery.data.campaign.type = 'DYNAMIC';
    delivery.data.voucher.type = 'MEMBERSHIP_CARD';
    delivery.event.event_source.channel = 'PARTNER_API';
    delivery.source.object = 'integration';
    const result = decodeDelivery(delivery);
    expect(isRight(result) && result.right.known && result.right.event.data).toMatchObject({
      transaction: { type: 'POINTS_TELEPORTATION', source: 'Shiny new channel' },
    });
  });

  it('refuses other object markers: a balance that is not a loyalty balance is not points', () => {
    const delivery = seed();
    delivery.data.balance.type = 'gift_voucher';
    expect(problemsOf(decodeDelivery(delivery))).toEqual(['data.balance.type: expected "loyalty_card", got a string']);
  });

  it('accepts what real payloads omit although the spec requires it, and nulls where nullable', () => {
    const delivery = seed();
    delete delivery.data.campaign.voucher.code_config.prefix;
    delete delivery.data.campaign.voucher.code_config.postfix;
    delete delivery.data.campaign.voucher.redemption.redeemed_quantity;
    delivery.data.customer.email = null;
    delivery.data.customer = null;
    delivery.data.campaign = null;
    delivery.data.transaction = null;
    expect(isRight(decodeDelivery(delivery))).toBe(true);
    const withMissing = seed();
    delete withMissing.data.campaign.voucher.code_config.prefix;
    delete withMissing.data.voucher.redemption.redeemed_quantity;
    expect(isRight(decodeDelivery(withMissing))).toBe(true);
  });

  it('keeps keys it does not know, so handlers and drift see them', () => {
    const delivery = seed();
    delivery.data.voucher.loyalty_card.tier = 'gold';
    const result = decodeDelivery(delivery);
    expect(isRight(result) && result.right.event.data).toMatchObject({ voucher: { loyalty_card: { tier: 'gold' } } });
  });
});
