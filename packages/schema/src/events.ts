import type * as t from 'io-ts';
import {
  LoyaltyTransactionCreatedData,
  PendingPointsActivatedData,
  PendingPointsData,
  PointsAddedData,
  PointsExpiredData,
} from './codecs/loyalty.js';
import { RedemptionSucceededData } from './codecs/redemption.js';
import { CustomerRewardedData, CustomerRewardedLoyaltyPointsData, RewardRedemptionData } from './codecs/rewards.js';
import { GiftBalanceAddedData, VoucherPublishedData } from './codecs/voucher.js';

/**
 * The codec of `data` for each event name the product understands. A
 * distribution sends `customer.…` names; a project webhook sends the same
 * happening without the prefix, and both map to one codec where Voucherify
 * sends the same data. `customer.rewarded` and `customer.rewarded.loyalty_points`
 * carry the prefix in both kinds. Add an event here and its type flows to
 * handlers (`EventMap`), fixtures tests and drift.
 */
export const EVENT_DATA = {
  'customer.voucher.loyalty_card.points_added': PointsAddedData,
  'voucher.loyalty_card.points_added': PointsAddedData,
  'customer.voucher.loyalty_card.points_expired': PointsExpiredData,
  'voucher.loyalty_card.points_expired': PointsExpiredData,
  'customer.voucher.loyalty_card.pending_points.added': PendingPointsData,
  'voucher.loyalty_card.pending_points.added': PendingPointsData,
  'customer.voucher.loyalty_card.pending_points.canceled': PendingPointsData,
  'voucher.loyalty_card.pending_points.canceled': PendingPointsData,
  'customer.voucher.loyalty_card.pending_points.updated': PendingPointsData,
  'voucher.loyalty_card.pending_points.updated': PendingPointsData,
  'customer.voucher.loyalty_card.pending_points.activated': PendingPointsActivatedData,
  'voucher.loyalty_card.pending_points.activated': PendingPointsActivatedData,
  'voucher.loyalty_card.transaction.created': LoyaltyTransactionCreatedData,
  'customer.rewarded': CustomerRewardedData,
  'customer.rewarded.loyalty_points': CustomerRewardedLoyaltyPointsData,
  'customer.reward_redemptions.created': RewardRedemptionData,
  'customer.reward_redemptions.pending': RewardRedemptionData,
  'customer.reward_redemptions.completed': RewardRedemptionData,
  'customer.redemption.succeeded': RedemptionSucceededData,
  'redemption.succeeded': RedemptionSucceededData,
  'voucher.published': VoucherPublishedData,
  'customer.voucher.gift.balance_added': GiftBalanceAddedData,
  'voucher.gift.balance_added': GiftBalanceAddedData,
} as const satisfies Record<string, t.Mixed>;

/** Every event name with a codec: what a handler may subscribe to by name. */
export type EventType = keyof typeof EVENT_DATA;

/** Every event name with a codec, in declaration order. */
export const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];

/** True for event names with a codec; any other name decodes to an unknown event. */
export const isKnownEventType = (type: string): type is EventType => Object.hasOwn(EVENT_DATA, type);

/** The decoded `data` of event `K`. */
export type EventData<K extends EventType> = t.TypeOf<(typeof EVENT_DATA)[K]>;
