import type * as t from 'io-ts';
import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import { Envelope, type EventMeta } from './codecs/envelope.js';
import { EVENT_DATA, isKnownEventType, type EventType } from './events.js';
import { formatErrors } from './report.js';

/** A decoded delivery of event `K`: the envelope with `data` typed for that event. */
export type WebhookEvent<K extends EventType = EventType> = {
  [P in K]: Omit<Envelope, 'data' | 'event'> & {
    data: t.TypeOf<(typeof EVENT_DATA)[P]>;
    event: EventMeta & { type: P };
  };
}[K];

/** Event name → its decoded delivery; what `defineHandler` narrows with. */
export type EventMap = { [K in EventType]: WebhookEvent<K> };

/**
 * A delivery whose `event.type` has no codec: the envelope is checked, `data`
 * is kept as it came. Voucherify adds event types without notice, so this is
 * a normal outcome, never an error.
 */
export type UnknownWebhookEvent = Envelope;

export type DecodedDelivery = { known: true; event: WebhookEvent } | { known: false; event: UnknownWebhookEvent };

/** Why a delivery did not decode: one readable line per failing path. It will never decode, so it is not retried. */
export class DeliveryDecodeError extends Error {
  override readonly name = 'DeliveryDecodeError';
  constructor(readonly problems: readonly string[]) {
    super(`Delivery does not decode: ${problems.join('; ')}`);
  }
}

const LEGACY_HINT =
  'this looks like a 2018-08-01 webhook (top-level object "event"); only version 2024-01-01 envelopes are accepted: upgrade the webhook version in Voucherify';

/** Decodes a parsed JSON delivery: the envelope first, then `data` by `event.type`. Never throws. */
export function decodeDelivery(input: unknown): Either<DeliveryDecodeError, DecodedDelivery> {
  const envelope = Envelope.decode(input);
  if (isLeft(envelope)) {
    const problems = formatErrors(envelope.left);
    if (typeof input === 'object' && input !== null && (input as Record<string, unknown>)['object'] === 'event')
      problems.unshift(LEGACY_HINT);
    return left(new DeliveryDecodeError(problems));
  }
  const delivery = envelope.right;
  const type = delivery.event.type;
  if (!isKnownEventType(type)) return right({ known: false, event: delivery });
  const data = (EVENT_DATA[type] as t.Mixed).decode(delivery.data);
  if (isLeft(data)) return left(new DeliveryDecodeError(formatErrors(data.left, 'data')));
  return right({ known: true, event: { ...delivery, data: data.right } as WebhookEvent });
}
