import type * as t from 'io-ts';
import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import { Envelope, type EventMeta } from './codecs/envelope.js';
import { EVENT_DATA, isKnownEventType, type EventType } from './events.js';
import { formatErrors } from './report.js';

/**
 * A decoded delivery of event `K`: the envelope with `data` typed for that
 * event and `event.type` narrowed to `K`. What a handler receives.
 */
export type WebhookEvent<K extends EventType = EventType> = {
  [P in K]: Omit<Envelope, 'data' | 'event'> & {
    data: t.TypeOf<(typeof EVENT_DATA)[P]>;
    event: EventMeta & { type: P };
  };
}[K];

/**
 * A delivery whose `event.type` has no codec: the envelope is checked, `data`
 * is kept as it came and typed `unknown`, since nothing is known of it.
 * Voucherify adds event types without notice, so this is a normal outcome,
 * never an error; handlers subscribed with a pattern (`*`, `customer.*`)
 * receive it, `T` being the names their pattern matches.
 */
export type UnknownWebhookEvent<T extends string = string> = Omit<Envelope, 'data' | 'event'> & {
  data: unknown;
  event: EventMeta & { type: T };
};

/** What a handler may receive: a known event, typed, or (for a pattern) an unknown one. */
export type HandledEvent = WebhookEvent | UnknownWebhookEvent;

/**
 * Narrows a decoded event to the given event names. Needed because the event
 * name sits in `event.event.type`, one level down, where a `switch` narrows
 * `event.event` but not `event.data`:
 * `if (isEventOf(event, 'customer.voucher.loyalty_card.points_expired')) event.data.buckets`.
 * An unknown event never matches: its name has no codec.
 */
export function isEventOf<E extends HandledEvent, K extends EventType & E['event']['type']>(
  event: E,
  ...types: readonly K[]
): event is Extract<E, { event: { type: K } }> {
  return (types as readonly string[]).includes(event.event.type);
}

/**
 * True when the event has a codec, and narrows to the known events: what a
 * pattern handler asks before reading `data` with types.
 * `if (!isKnownEvent(event)) return handleUnknown(event.event.type, event.data)`.
 */
export function isKnownEvent<E extends HandledEvent>(event: E): event is Extract<E, WebhookEvent> {
  return isKnownEventType(event.event.type);
}

/** Event name → its decoded delivery; what `defineHandler` narrows with. */
export type EventMap = { [K in EventType]: WebhookEvent<K> };

/** The outcome of decoding: a known event, typed, or an unfamiliar one with its envelope checked. */
export type DecodedDelivery = { known: true; event: WebhookEvent } | { known: false; event: UnknownWebhookEvent };

/**
 * What kind of undecodable delivery it was, for a metric or a dead-letter
 * reason: not a JSON object, the 2018-08-01 envelope, a payload without the
 * 2024-01-01 envelope (custom or trimmed in the payload designer), an envelope
 * with wrong values, or a known event whose `data` does not match its codec.
 */
export type DecodeFailureKind = 'not-an-object' | 'legacy-envelope' | 'not-an-envelope' | 'invalid-envelope' | 'invalid-data';

/** Why a delivery did not decode: one readable line per failing path. It will never decode, so it is not retried. */
export class DeliveryDecodeError extends Error {
  override readonly name = 'DeliveryDecodeError';
  constructor(
    readonly problems: readonly string[],
    readonly kind: DecodeFailureKind = 'invalid-data',
  ) {
    super(`Delivery does not decode: ${problems.join('; ')}`);
  }
}

const ENVELOPE_KEYS = ['id', 'project_id', 'created_at', 'type', 'data', 'source', 'event'] as const;

/** A first line saying what the payload is, when it is not a 2024-01-01 envelope at all. */
function diagnose(input: unknown): { kind: DecodeFailureKind; hint?: string } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    const got = input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input;
    return { kind: 'not-an-object', hint: `(root): expected a Voucherify webhook delivery (a JSON object), got ${got}` };
  }
  const record = input as Record<string, unknown>;
  const missing = ENVELOPE_KEYS.filter((k) => !Object.hasOwn(record, k));
  if (record['object'] === 'event' || Object.hasOwn(record, 'webhook_id'))
    return {
      kind: 'legacy-envelope',
      hint:
        `(root): a 2018-08-01 webhook envelope (top-level object "event"), missing ${missing.join(', ') || 'nothing'}; ` +
        'only version 2024-01-01 is accepted: switch the webhook to that version in Voucherify',
    };
  if (missing.length > 0)
    return {
      kind: 'not-an-envelope',
      hint:
        `(root): not a complete Voucherify 2024-01-01 delivery, missing ${missing.join(', ')}; ` +
        "a distribution's payload designer may have sent a custom or trimmed payload: send the complete, unedited payload",
    };
  return { kind: 'invalid-envelope' };
}

/**
 * Decodes a parsed JSON delivery: the envelope first, then `data` by
 * `event.type` (never the top-level `type`, free text for distributions).
 * An unfamiliar `event.type` is `{ known: false }`, not an error. Every
 * failing path is reported, not only the first. Never throws.
 */
export function decodeDelivery(input: unknown): Either<DeliveryDecodeError, DecodedDelivery> {
  // Fast path. Every codec in this package decodes a value to itself (none
  // transforms: no dates parsed, no defaults; a test holds every fixture to
  // that), so a value that `is` valid is its own decoding. `is` allocates no
  // error contexts, unlike `decode`, which runs only to explain a failure.
  if (Envelope.is(input)) {
    const type = input.event.type;
    if (!isKnownEventType(type)) return right({ known: false, event: input });
    if ((EVENT_DATA[type] as t.Mixed).is(input.data)) return right({ known: true, event: input as WebhookEvent });
  }
  const envelope = Envelope.decode(input);
  if (isLeft(envelope)) {
    const { kind, hint } = diagnose(input);
    const problems = kind === 'not-an-object' ? [] : formatErrors(envelope.left);
    if (hint) problems.unshift(hint);
    return left(new DeliveryDecodeError(problems, kind));
  }
  const delivery = envelope.right;
  const type = delivery.event.type;
  if (!isKnownEventType(type)) return right({ known: false, event: delivery });
  const data = (EVENT_DATA[type] as t.Mixed).decode(delivery.data);
  if (isLeft(data)) return left(new DeliveryDecodeError(formatErrors(data.left, 'data'), 'invalid-data'));
  return right({ known: true, event: { ...delivery, data: data.right } as WebhookEvent });
}
