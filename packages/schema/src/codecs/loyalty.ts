/* The loyalty-card events: points added and expired, pending points, transactions. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import {
  EarningRule,
  LoyaltyBalance,
  LoyaltyTier,
  LoyaltyTransaction,
  SimpleCampaign,
  SimpleCustomer,
  SimpleOrder,
  SimpleVoucher,
  Voucher,
} from './entities.js';

const nested = nullable(t.UnknownRecord);

/** The card, its campaign and its holder: every loyalty event may carry them, none is required (the spec's project webhooks leave them out). */
const cardParties = {
  customer: nullable(SimpleCustomer),
  campaign: nullable(SimpleCampaign),
  voucher: nullable(SimpleVoucher),
};

/**
 * `data` of `customer.voucher.loyalty_card.points_added` (and its project
 * twin): `balance` is what the e-mail and the CRM report, so it is required;
 * the transaction (trimmed by project webhooks to `{id, campaign_id, type,
 * details, created_at}`) and the parties are optional.
 */
export const PointsAddedData = struct(
  'PointsAddedData',
  { balance: LoyaltyBalance },
  { ...cardParties, transaction: nullable(LoyaltyTransaction) },
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
export const PointsExpiredData = struct(
  'PointsExpiredData',
  { points: t.number, buckets: t.array(PointsBucket) },
  { ...cardParties, transaction: nullable(LoyaltyTransaction) },
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

/** Pending points as the subject of their events: `id` keys the side effects once, `points` is what the customer is told. */
export const PendingPointsSubject = struct('PendingPointsSubject', { id: t.string, points: t.number }, PendingPoints.props);

/** The card's pending-points balance after the change; fields not documented, all optional. */
export const PendingPointsBalance = t.partial(
  {
    type: t.string,
    object: t.string,
    points: t.number,
    total: t.number,
    balance: t.number,
    related_object: t.partial({ id: t.string, type: t.string }, 'PendingPointsRelatedObject'),
    operation_type: t.string,
  },
  'PendingPointsBalance',
);
export type PendingPointsBalance = t.TypeOf<typeof PendingPointsBalance>;

const pendingPointsProps = {
  ...cardParties,
  voucher_pending_points_balance: PendingPointsBalance,
  order: nullable(SimpleOrder),
  // Sent by `voucher.loyalty_card.pending_points.canceled` (the spec's example).
  redemption: nullable(t.UnknownRecord),
};

/**
 * `data` of `…loyalty_card.pending_points.{added,canceled,updated}`. The
 * pending points are the subject: their `id` (with the event name) is the
 * once-only key and their `points` what the e-mail reports, so they are
 * required; the rest is optional.
 */
export const PendingPointsData = struct('PendingPointsData', { pending_points: PendingPointsSubject }, pendingPointsProps);
/** Pending points were added, canceled or changed; none are spendable yet. */
export type PendingPointsData = t.TypeOf<typeof PendingPointsData>;

/**
 * `data` of `…loyalty_card.pending_points.activated`. Voucherify sends two
 * forms: the schema's (and project webhooks': `balance`, `transaction` and
 * `pending_points`) and the distribution's (`voucher_pending_points_balance`,
 * neither `balance` nor `transaction`). Both decode: only the pending
 * points are required, the balance and transaction are there when sent.
 */
export const PendingPointsActivatedData = struct(
  'PendingPointsActivatedData',
  { pending_points: PendingPointsSubject },
  { ...pendingPointsProps, balance: LoyaltyBalance, transaction: nullable(LoyaltyTransaction) },
);
/** Pending points were activated: `balance` is the card after and `transaction` the `PENDING_POINTS_ACTIVATION`, when sent. */
export type PendingPointsActivatedData = t.TypeOf<typeof PendingPointsActivatedData>;

/**
 * `data` of `voucher.loyalty_card.transaction.created` (project webhooks only).
 * The spec lists every reason a transaction can have (an order, a redemption,
 * a reward, a transfer…), null where it does not apply; the transaction is
 * the subject and required, the rest optional and kept whole.
 */
export const LoyaltyTransactionCreatedData = struct(
  'LoyaltyTransactionCreatedData',
  { transaction: LoyaltyTransaction },
  {
    ...cardParties,
    voucher: nullable(Voucher),
    holder: nullable(SimpleCustomer),
    balance: nullable(LoyaltyBalance),
    holder_loyalty_tier: nullable(LoyaltyTier),
    loyalty_tier: nullable(LoyaltyTier),
    order: nullable(SimpleOrder),
    event: nested,
    earning_rule: EarningRule,
    segment: nested,
    redemption: nested,
    rollback: nested,
    reward: nested,
    custom_event: nested,
    source_voucher: nullable(SimpleVoucher),
    destination_voucher: nullable(SimpleVoucher),
  },
);
/** A loyalty transaction was recorded; the same `transaction.id` arrives with the points event it belongs to. */
export type LoyaltyTransactionCreatedData = t.TypeOf<typeof LoyaltyTransactionCreatedData>;

/** The loyalty card events, distribution and project webhook alike. */
export const LOYALTY_EVENTS = {
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
} as const;
