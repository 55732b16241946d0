/* The loyalty-card events: points added and expired, pending points, transactions. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import { LoyaltyBalance, LoyaltyTransaction, SimpleCampaign, SimpleCustomer, SimpleOrder, SimpleVoucher } from './entities.js';

/**
 * `data` of `customer.voucher.loyalty_card.points_added` (and its project twin):
 * all five keys required, four nullable.
 */
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
/** Points were added to a loyalty card: `balance.points` is how many, `balance.balance` the spendable balance after. */
export type PointsAddedData = t.TypeOf<typeof PointsAddedData>;

/** A dated batch of points on a card (`lopb_…`); expiry works bucket by bucket. */
export const PointsBucket = struct(
  'PointsBucket',
  {
    id: t.string,
    voucher_id: t.string,
    campaign_id: t.string,
    bucket: t.type({ total_points: t.number }, 'PointsBucketContent'),
    // `ACTIVE`, …: WEBHOOKS.md does not list the values, so any string.
    status: t.string,
    /** A date (`2024-03-14`), not a date-time. */
    expires_at: t.string,
    created_at: t.string,
    object: t.literal('loyalty_points_bucket'),
  },
  { updated_at: nullable(t.string) },
);
export type PointsBucket = t.TypeOf<typeof PointsBucket>;

/**
 * `data` of `…loyalty_card.points_expired`: no top-level `balance`; `points` is
 * the number expired, `buckets` the batches they came from; the transaction
 * has `type: POINTS_EXPIRATION` and a negative `details.balance.points`.
 */
export const PointsExpiredData = t.type(
  {
    customer: nullable(SimpleCustomer),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    points: t.number,
    buckets: t.array(PointsBucket),
    transaction: nullable(LoyaltyTransaction),
  },
  'PointsExpiredData',
);
/** Points expired on a loyalty card: `points` expired, from `buckets`. */
export type PointsExpiredData = t.TypeOf<typeof PointsExpiredData>;

/**
 * Points promised for an order and activated later (`lopp_…`). WEBHOOKS.md
 * names the object but not its fields: all optional, typed where the meaning
 * is plain.
 */
export const PendingPoints = t.partial(
  {
    id: t.string,
    voucher_id: t.string,
    campaign_id: t.string,
    customer_id: nullable(t.string),
    order_id: nullable(t.string),
    points: t.number,
    activates_at: nullable(t.string),
    details: nullable(t.UnknownRecord),
    created_at: t.string,
    updated_at: nullable(t.string),
    object: t.string,
  },
  'PendingPoints',
);
export type PendingPoints = t.TypeOf<typeof PendingPoints>;

/** The card's pending-points balance after the change; fields not documented, all optional. */
export const PendingPointsBalance = t.partial(
  {
    type: t.string,
    object: t.string,
    points: t.number,
    total: t.number,
    balance: t.number,
    related_object: t.partial({ id: t.string, type: t.string }, 'PendingPointsRelatedObject'),
  },
  'PendingPointsBalance',
);
export type PendingPointsBalance = t.TypeOf<typeof PendingPointsBalance>;

const pendingPointsProps = {
  customer: nullable(SimpleCustomer),
  campaign: nullable(SimpleCampaign),
  voucher: nullable(SimpleVoucher),
  voucher_pending_points_balance: PendingPointsBalance,
  order: nullable(SimpleOrder),
  pending_points: PendingPoints,
};

/**
 * `data` of `…loyalty_card.pending_points.{added,canceled,updated}`. The six
 * keys WEBHOOKS.md lists are required, so a payload a user trimmed in the
 * payload designer is refused instead of half-handled.
 */
export const PendingPointsData = t.type(pendingPointsProps, 'PendingPointsData');
/** Pending points were added, canceled or changed; none are spendable yet. */
export type PendingPointsData = t.TypeOf<typeof PendingPointsData>;

/** `data` of `…loyalty_card.pending_points.activated`: pending points became real, so a balance and a transaction come too. */
export const PendingPointsActivatedData = t.type(
  { ...pendingPointsProps, balance: LoyaltyBalance, transaction: nullable(LoyaltyTransaction) },
  'PendingPointsActivatedData',
);
/** Pending points were activated: `balance` is the card after, `transaction` the `PENDING_POINTS_ACTIVATION`. */
export type PendingPointsActivatedData = t.TypeOf<typeof PendingPointsActivatedData>;

/**
 * `data` of `voucher.loyalty_card.transaction.created` (project webhooks only).
 * WEBHOOKS.md names the event, not its data: the transaction is its subject and
 * required; the usual companions are optional.
 */
export const LoyaltyTransactionCreatedData = struct(
  'LoyaltyTransactionCreatedData',
  { transaction: LoyaltyTransaction },
  {
    customer: nullable(SimpleCustomer),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    balance: nullable(LoyaltyBalance),
  },
);
/** A loyalty transaction was recorded; the same `transaction.id` arrives with the points event it belongs to. */
export type LoyaltyTransactionCreatedData = t.TypeOf<typeof LoyaltyTransactionCreatedData>;
