import type * as t from 'io-ts';
import { CAMPAIGN_EVENTS } from './codecs/campaign.js';
import { CUSTOMER_EVENTS } from './codecs/customer.js';
import { DISTRIBUTION_EVENTS } from './codecs/distribution.js';
import { LOYALTY_EVENTS } from './codecs/loyalty.js';
import { ORDER_EVENTS } from './codecs/orders.js';
import { PUBLICATION_EVENTS } from './codecs/publication.js';
import { REDEMPTION_EVENTS } from './codecs/redemption.js';
import { REWARD_EVENTS } from './codecs/rewards.js';
import { SEGMENT_EVENTS } from './codecs/segments.js';
import { TIER_EVENTS } from './codecs/tiers.js';
import { VALIDATION_RULE_EVENTS } from './codecs/validation-rule.js';
import { VOUCHER_EVENTS } from './codecs/voucher.js';

/**
 * The webhook types of Voucherify's OpenAPI description (version 2024-01-01),
 * grouped as it groups them, each group's event name → the codec of `data`.
 * A distribution sends `customer.…` names; a project webhook sends the same
 * happening without the prefix where both exist, with the same codec.
 */
export const EVENT_GROUPS = {
  'redemption and rollback': REDEMPTION_EVENTS,
  customer: CUSTOMER_EVENTS,
  tiers: TIER_EVENTS,
  orders: ORDER_EVENTS,
  segments: SEGMENT_EVENTS,
  publication: PUBLICATION_EVENTS,
  'voucher and gift': VOUCHER_EVENTS,
  loyalty: LOYALTY_EVENTS,
  rewards: REWARD_EVENTS,
  'campaign, earning rule, promotion and loyalty tier': CAMPAIGN_EVENTS,
  'business validation rule': VALIDATION_RULE_EVENTS,
  'manual distribution schedule': DISTRIBUTION_EVENTS,
} as const;

/** A group of `EVENT_GROUPS`. */
export type EventGroup = keyof typeof EVENT_GROUPS;

/**
 * The codec of `data` for each event name the product understands. Add an
 * event to its group and its type flows to handlers (`EventMap`), fixtures
 * tests and drift.
 */
export const EVENT_DATA = {
  ...REDEMPTION_EVENTS,
  ...CUSTOMER_EVENTS,
  ...TIER_EVENTS,
  ...ORDER_EVENTS,
  ...SEGMENT_EVENTS,
  ...PUBLICATION_EVENTS,
  ...VOUCHER_EVENTS,
  ...LOYALTY_EVENTS,
  ...REWARD_EVENTS,
  ...CAMPAIGN_EVENTS,
  ...VALIDATION_RULE_EVENTS,
  ...DISTRIBUTION_EVENTS,
} as const satisfies Record<string, t.Mixed>;

/** Every event name with a codec: what a handler may subscribe to by name. */
export type EventType = keyof typeof EVENT_DATA;

/** Every event name with a codec, in declaration order. */
export const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];

/** True for event names with a codec; any other name decodes to an unknown event. */
export const isKnownEventType = (type: string): type is EventType => Object.hasOwn(EVENT_DATA, type);

/** The group an event name belongs to. */
export const groupOf = (type: EventType): EventGroup =>
  (Object.keys(EVENT_GROUPS) as EventGroup[]).find((g) => Object.hasOwn(EVENT_GROUPS[g], type))!;

/** The decoded `data` of event `K`. */
export type EventData<K extends EventType> = t.TypeOf<(typeof EVENT_DATA)[K]>;
