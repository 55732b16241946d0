import type * as t from 'io-ts';
import { PointsAddedData } from './codecs/loyalty.js';

/**
 * The codec of `data` for each event name the product understands. Project-level
 * twins (no `customer.` prefix) map to the same codec where Voucherify sends
 * the same data. Add an event here and its type flows to handlers.
 */
export const EVENT_DATA = {
  'customer.voucher.loyalty_card.points_added': PointsAddedData,
  'voucher.loyalty_card.points_added': PointsAddedData,
} as const satisfies Record<string, t.Mixed>;

/** Every event name with a codec. */
export type EventType = keyof typeof EVENT_DATA;

export const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];

export const isKnownEventType = (type: string): type is EventType => Object.hasOwn(EVENT_DATA, type);
