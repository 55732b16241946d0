/* Redemption and rollback: a code or promotion was redeemed, failed to redeem, or was rolled back. */
import * as t from 'io-ts';
import { Metadata, nullable, openString, struct } from './common.js';
import { SimpleCampaign, SimpleCustomer, SimpleOrder, SimpleVoucher } from './entities.js';

export const REDEMPTION_RESULTS = ['SUCCESS', 'FAILURE'] as const;
export const REDEMPTION_STATUSES = ['SUCCEEDED', 'FAILED', 'ROLLED_BACK'] as const;

/**
 * A redemption (`r_…`) or rollback (`rr_…`) as events embed it; every field
 * optional. `result` and `status` are open: a new status (a partial
 * rollback, say) must not fail the event; a handler compares with the known
 * values.
 */
export const SimpleRedemption = t.partial(
  {
    id: t.string,
    customer_id: nullable(t.string),
    tracking_id: nullable(t.string),
    date: t.string,
    amount: t.number,
    order: nullable(SimpleOrder),
    customer: nullable(SimpleCustomer),
    result: openString('RedemptionResult', REDEMPTION_RESULTS),
    status: openString('RedemptionStatus', REDEMPTION_STATUSES),
    voucher: nullable(SimpleVoucher),
    // A rollback names the redemption it undoes.
    redemption: nullable(t.string),
    reason: nullable(t.string),
    reward: nullable(t.UnknownRecord),
    channel: nullable(t.UnknownRecord),
    failure_code: t.string,
    failure_message: t.string,
    metadata: nullable(Metadata),
    related_object_type: t.string,
    related_object_id: t.string,
    object: t.string,
  },
  'SimpleRedemption',
);
/** A redemption as events embed it; every field optional. */
export type SimpleRedemption = t.TypeOf<typeof SimpleRedemption>;

/** A redemption or rollback as the subject of its event: its `id` is the once-only key. */
export const RedemptionSubject = struct('RedemptionSubject', { id: t.string }, SimpleRedemption.props);

/** Who and what every redemption event may carry; the spec marks each nullable and none required. */
const redemptionParties = {
  customer: nullable(SimpleCustomer),
  order: nullable(SimpleOrder),
  campaign: nullable(SimpleCampaign),
  voucher: nullable(SimpleVoucher),
  holder: nullable(SimpleCustomer),
  // Promotions are not this product's concern: kept whole.
  promotion_tier: nullable(t.UnknownRecord),
  promotion_stack: nullable(t.UnknownRecord),
  created_at: t.string,
};

/**
 * `data` of `redemption.succeeded`, `redemption.failed` and
 * `customer.redemption.succeeded`. The redemption is the subject: required,
 * with its id; the rest optional.
 */
export const RedemptionData = struct('RedemptionData', { redemption: RedemptionSubject }, redemptionParties);
/** A voucher or promotion was redeemed (or failed to be); `redemption` says which, for what order. */
export type RedemptionData = t.TypeOf<typeof RedemptionData>;

/**
 * `data` of `redemption.rollback.{succeeded,failed}` and
 * `customer.redemption.rollback.succeeded`: the rollback is the subject, the
 * redemption it undoes comes along.
 */
export const RedemptionRollbackData = struct(
  'RedemptionRollbackData',
  { redemption_rollback: RedemptionSubject },
  { ...redemptionParties, redemption: nullable(SimpleRedemption) },
);
/** A redemption was rolled back (or the rollback failed). */
export type RedemptionRollbackData = t.TypeOf<typeof RedemptionRollbackData>;

/** The redemption and rollback events, distribution and project webhook alike. */
export const REDEMPTION_EVENTS = {
  'redemption.succeeded': RedemptionData,
  'redemption.failed': RedemptionData,
  'redemption.rollback.succeeded': RedemptionRollbackData,
  'redemption.rollback.failed': RedemptionRollbackData,
  'customer.redemption.succeeded': RedemptionData,
  'customer.redemption.rollback.succeeded': RedemptionRollbackData,
} as const;
