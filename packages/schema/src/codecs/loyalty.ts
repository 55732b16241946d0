import * as t from 'io-ts';
import { nullable, struct, Metadata } from './common.js';

/** The simplified customer; every field optional, `email` often absent or null. */
export const SimpleCustomer = t.partial(
  {
    id: t.string,
    name: nullable(t.string),
    email: nullable(t.string),
    source_id: nullable(t.string),
    metadata: nullable(Metadata),
    object: t.literal('customer'),
  },
  'SimpleCustomer',
);
export type SimpleCustomer = t.TypeOf<typeof SimpleCustomer>;

export const CodeConfig = struct(
  'CodeConfig',
  {},
  {
    length: t.number,
    // Real payloads omit prefix and postfix although the spec marks them required.
    prefix: nullable(t.string),
    postfix: nullable(t.string),
    charset: t.string,
    pattern: t.string,
    initial_count: t.number,
  },
);

export const RedemptionCounts = t.partial(
  {
    /** null means unlimited. */
    quantity: nullable(t.number),
    redeemed_quantity: t.number,
    // Sent although the spec lacks it.
    redeemed_points: t.number,
  },
  'RedemptionCounts',
);

/** The simplified campaign; every field optional. */
export const SimpleCampaign = t.partial(
  {
    id: t.string,
    name: t.string,
    /** `AUTO_UPDATE | STATIC | STANDALONE`, kept a string: a new campaign kind must not fail the event. */
    type: t.string,
    /** Open-ended (`LOYALTY_PROGRAM`, `DISCOUNT_COUPONS`, …): a string, never an enum. */
    campaign_type: t.string,
    voucher: t.partial({
      type: t.string,
      loyalty_card: t.UnknownRecord,
      redemption: RedemptionCounts,
      code_config: CodeConfig,
    }),
    category_id: nullable(t.string),
    category: nullable(t.string),
    start_date: nullable(t.string),
    expiration_date: nullable(t.string),
    description: nullable(t.string),
    metadata: nullable(Metadata),
    created_at: t.string,
    updated_at: nullable(t.string),
    object: t.literal('campaign'),
  },
  'SimpleCampaign',
);
export type SimpleCampaign = t.TypeOf<typeof SimpleCampaign>;

export const LoyaltyCardState = struct(
  'LoyaltyCardState',
  { points: t.number },
  {
    balance: t.number,
    next_expiration_date: nullable(t.string),
    next_expiration_points: nullable(t.number),
    pending_points: nullable(t.number),
    expired_points: nullable(t.number),
    subtracted_points: nullable(t.number),
  },
);

/** The simplified voucher. */
export const SimpleVoucher = t.partial(
  {
    id: t.string,
    code: t.string,
    type: t.string,
    campaign: nullable(t.string),
    campaign_id: nullable(t.string),
    holder_id: nullable(t.string),
    category_id: nullable(t.string),
    active: nullable(t.boolean),
    created_at: t.string,
    updated_at: nullable(t.string),
    start_date: nullable(t.string),
    expiration_date: nullable(t.string),
    metadata: nullable(Metadata),
    object: t.literal('voucher'),
    redemption: RedemptionCounts,
    loyalty_card: LoyaltyCardState,
  },
  'SimpleVoucher',
);
export type SimpleVoucher = t.TypeOf<typeof SimpleVoucher>;

/** A loyalty card balance after a change: `points` is the change, `balance` spendable, `total` lifetime. */
export const LoyaltyBalance = t.type(
  {
    type: t.literal('loyalty_card'),
    total: t.number,
    object: t.literal('balance'),
    points: t.number,
    balance: t.number,
    related_object: t.type({ id: t.string, type: t.literal('voucher') }),
  },
  'LoyaltyBalance',
);
export type LoyaltyBalance = t.TypeOf<typeof LoyaltyBalance>;

/**
 * A loyalty transaction. `type` and `source` are kept as strings: Voucherify
 * extends both lists (gift cards added `CREDITS_*`), and a new value must not
 * turn a good event into a dead letter. `LOYALTY_TRANSACTION_TYPES` lists the
 * known types for handlers that switch on them.
 */
export const LoyaltyTransaction = struct(
  'LoyaltyTransaction',
  { id: t.string, created_at: t.string },
  {
    source_id: nullable(t.string),
    voucher_id: t.string,
    campaign_id: t.string,
    source: nullable(t.string),
    reason: nullable(t.string),
    type: t.string,
    details: nullable(t.UnknownRecord),
    related_transaction_id: nullable(t.string),
  },
);
export type LoyaltyTransaction = t.TypeOf<typeof LoyaltyTransaction>;

export const LOYALTY_TRANSACTION_TYPES = [
  'PENDING_POINTS_ACTIVATION',
  'POINTS_ACCRUAL',
  'POINTS_REDEMPTION',
  'POINTS_REFUND',
  'POINTS_ADDITION',
  'POINTS_REMOVAL',
  'POINTS_EXPIRATION',
  'POINTS_TRANSFER_IN',
  'POINTS_TRANSFER_OUT',
] as const;

/** `data` of `customer.voucher.loyalty_card.points_added`: all five keys required, four nullable. */
export const PointsAddedData = t.type(
  {
    customer: nullable(SimpleCustomer),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    balance: LoyaltyBalance,
    transaction: nullable(LoyaltyTransaction),
  },
  'PointsAddedData',
);
export type PointsAddedData = t.TypeOf<typeof PointsAddedData>;
