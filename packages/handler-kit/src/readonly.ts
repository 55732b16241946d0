import { isKnownEventType, type EventType, type HandledEvent, type WebhookEvent } from '@vouchflow/schema';

/**
 * `T` with every property and array, at any depth, read-only. The worker
 * deep-freezes each event before handlers see it (handlers of one delivery
 * share it), so changing one throws at run time; typed this way, the compiler
 * says so first.
 */
export type DeepReadonly<T> = T extends string | number | boolean | bigint | symbol | null | undefined | ((...args: never[]) => unknown)
  ? T
  : T extends ReadonlyArray<infer U>
    ? ReadonlyArray<DeepReadonly<U>>
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** Any decoded event, known or not, read-only, as a wildcard handler receives it. */
export type AnyHandlerEvent = DeepReadonly<HandledEvent>;

/**
 * Narrows an event by name inside a wildcard handler:
 * `if (isEventOf(event, 'customer.voucher.loyalty_card.points_added')) event.data.balance.points`.
 * Takes several names too; then `event` is any of them.
 */
export function isEventOf<E extends AnyHandlerEvent, K extends E['event']['type'] & EventType>(
  event: E,
  ...types: readonly K[]
): event is Extract<E, { event: { type: K } }> {
  return (types as readonly string[]).includes(event.event.type);
}

/**
 * True when the event has a codec: narrows a pattern handler's event to the
 * known ones, whose `data` is typed (an unknown one has `data: unknown`).
 */
export function isKnownEvent<E extends AnyHandlerEvent>(event: E): event is Extract<E, DeepReadonly<WebhookEvent>> {
  return isKnownEventType(event.event.type);
}

/** Freezes a value and everything in it, as the worker freezes an event before handlers see it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
