/*
 * The types plugin authors program against: `defineHandler` narrows `event` to
 * what the handler subscribes to. These checks run in `tsc` (the repository
 * typecheck includes tests); the runtime part hands a decoded fixture to a
 * handler so the test can fail at run time too. handler-kit is imported by
 * path: it depends on this package, so this package cannot depend on it.
 */
import { PassThrough } from 'node:stream';
import { isRight } from 'fp-ts/lib/Either.js';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createLogger } from '@vouchflow/core';
import {
  defineHandler,
  isEventOf,
  isKnownEvent,
  PermanentError,
  RetryLaterError,
  type DeepReadonly,
  type HandlerContext,
  type HandlerEvent,
} from '../../handler-kit/src/index.js';
import { decodeDelivery, type EventType, type LoyaltyBalance, type UnknownWebhookEvent, type WebhookEvent } from '../src/index.js';
import { delivery } from './fixtures.js';

const pointsHandler = defineHandler({
  name: 'x',
  events: ['customer.voucher.loyalty_card.points_added'],
  async handle(event) {
    return { skipped: `balance ${event.data.balance.balance}` };
  },
});

const cardHandler = defineHandler({
  name: 'cards',
  events: ['customer.voucher.loyalty_card.*'],
  async handle(event) {
    if (isEventOf(event, 'customer.voucher.loyalty_card.points_expired')) return { skipped: `expired ${event.data.points}` };
    return { skipped: event.event.type };
  },
});

describe('handler types', () => {
  it('types a single-event handler exactly, without casts', () => {
    type Received = Parameters<typeof pointsHandler.handle>[0];
    // Read-only all the way down: the worker deep-freezes the event it hands over.
    expectTypeOf<Received>().toEqualTypeOf<HandlerEvent<'customer.voucher.loyalty_card.points_added'>>();
    expectTypeOf<Received>().toEqualTypeOf<DeepReadonly<WebhookEvent<'customer.voucher.loyalty_card.points_added'>>>();
    expectTypeOf<Received['data']['balance']>().toEqualTypeOf<DeepReadonly<LoyaltyBalance>>();
    expectTypeOf<Received['event']['type']>().toEqualTypeOf<'customer.voucher.loyalty_card.points_added'>();
    defineHandler({
      name: 'y',
      events: ['customer.voucher.loyalty_card.points_added'],
      async handle(event) {
        // @ts-expect-error: points_added data has no buckets
        void event.data.buckets;
        // @ts-expect-error: the customer may be null
        void event.data.customer.id;
        // @ts-expect-error: the event is read-only
        event.data.balance.points = 0;
      },
    });
    // @ts-expect-error: not an event with a codec, nor a pattern
    defineHandler({ name: 'z', events: ['customer.voucher.loyalty_card.points_addded'], async handle() {} });
  });

  it('narrows a wildcard to the events it matches, known ones typed and unknown ones with data: unknown', () => {
    type Received = Parameters<typeof cardHandler.handle>[0];
    type Known = Extract<Received, DeepReadonly<WebhookEvent>>;
    expectTypeOf<Known['event']['type']>().toEqualTypeOf<Extract<EventType, `customer.voucher.loyalty_card.${string}`>>();
    expectTypeOf<'customer.voucher.loyalty_card.pending_points.activated'>().toExtend<Known['event']['type']>();
    expectTypeOf<'voucher.loyalty_card.points_added'>().not.toExtend<Received['event']['type']>();
    expectTypeOf<Exclude<Received, Known>>().toEqualTypeOf<DeepReadonly<UnknownWebhookEvent<`customer.voucher.loyalty_card.${string}`>>>();
    expectTypeOf<Exclude<Received, Known>['data']>().toEqualTypeOf<unknown>();
    defineHandler({
      name: 'tiers',
      events: ['customer.*'],
      async handle(event) {
        // @ts-expect-error: an unknown customer. event may arrive, whose data is unknown
        void event.data.customer;
        if (!isKnownEvent(event)) return { skipped: `${event.event.type} carries ${typeof event.data}` };
        return { skipped: event.event.type };
      },
    });
    // Exact names get no unknown events.
    expectTypeOf<Parameters<typeof pointsHandler.handle>[0]>().toEqualTypeOf<
      DeepReadonly<WebhookEvent<'customer.voucher.loyalty_card.points_added'>>
    >();
  });

  it('hands an unknown event to a pattern handler, and isKnownEvent tells it apart', async () => {
    const seed = delivery('points_added');
    seed['event'].type = 'customer.voucher.loyalty_card.brand_new';
    const decoded = decodeDelivery(seed);
    if (!isRight(decoded) || decoded.right.known) throw new Error('expected an unknown event');
    const ctx: HandlerContext = {
      logger: createLogger({ level: 'error', stream: new PassThrough() }),
      signal: new AbortController().signal,
      attempt: 1,
      idempotencyKey: 'x:1',
      inDoubt: false,
      occurredAt: new Date(),
      errors: { PermanentError, RetryLaterError },
    };
    const unknownEvent = decoded.right.event as UnknownWebhookEvent<'customer.voucher.loyalty_card.brand_new'>;
    expect(isKnownEvent(unknownEvent)).toBe(false);
    await expect(cardHandler.handle(unknownEvent, ctx)).resolves.toEqual({ skipped: 'customer.voucher.loyalty_card.brand_new' });
  });

  it('hands a decoded delivery to the handler it typed', async () => {
    const decoded = decodeDelivery(delivery('points_added'));
    if (!isRight(decoded) || !decoded.right.known) throw new Error('seed did not decode');
    const event = decoded.right.event;
    if (!isEventOf(event, 'customer.voucher.loyalty_card.points_added')) throw new Error(event.event.type);
    const ctx: HandlerContext = {
      logger: createLogger({ level: 'error', stream: new PassThrough() }),
      signal: new AbortController().signal,
      attempt: 1,
      idempotencyKey: 'x:vtx_0e6d44043e9e51d377',
      inDoubt: false,
      occurredAt: new Date(event.event.created_at),
      errors: { PermanentError, RetryLaterError },
    };
    await expect(pointsHandler.handle(event, ctx)).resolves.toEqual({ skipped: 'balance 2641' });

    const expired = decodeDelivery(delivery('points_expired'));
    if (!isRight(expired) || !expired.right.known) throw new Error('points_expired did not decode');
    const card = expired.right.event;
    if (!isEventOf(card, 'customer.voucher.loyalty_card.points_expired')) throw new Error(card.event.type);
    await expect(cardHandler.handle(card, ctx)).resolves.toEqual({ skipped: 'expired 70' });
  });
});
