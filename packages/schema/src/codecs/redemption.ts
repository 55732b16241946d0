/* Redemptions: `customer.redemption.succeeded` and its project twin `redemption.succeeded`. */
import * as t from 'io-ts';
import { Metadata, nullable, openString, struct } from './common.js';
import { SimpleCampaign, SimpleCustomer, SimpleOrder, SimpleVoucher } from './entities.js';

export const REDEMPTION_RESULTS = ['SUCCESS', 'FAILURE'] as const;
export const REDEMPTION_STATUSES = ['SUCCEEDED', 'FAILED', 'ROLLED_BACK'] as const;

/**
 * A redemption (`r_…`) as events embed it. WEBHOOKS.md does not describe it;
 * the fields follow the OpenAPI description's example and are all optional.
 * `result` and `status` are open: a new status (a partial rollback, say) must
 * not fail the event; a handler compares with the known values.
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
    channel: nullable(t.UnknownRecord),
    failure_code: t.string,
    failure_message: t.string,
    metadata: nullable(Metadata),
    related_object_type: t.string,
    related_object_id: t.string,
    object: t.literal('redemption'),
  },
  'SimpleRedemption',
);
/** A redemption as events embed it; every field optional. */
export type SimpleRedemption = t.TypeOf<typeof SimpleRedemption>;

/**
 * `data` of `customer.redemption.succeeded` / `redemption.succeeded`. The spec
 * marks every key nullable and none required; `redemption`, the subject, is
 * required here so a trimmed payload is refused.
 */
export const RedemptionSucceededData = struct(
  'RedemptionSucceededData',
  { redemption: nullable(SimpleRedemption) },
  {
    customer: nullable(SimpleCustomer),
    order: nullable(SimpleOrder),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    holder: nullable(SimpleCustomer),
    // Promotions are not this product's concern: kept whole.
    promotion_tier: nullable(t.UnknownRecord),
    promotion_stack: nullable(t.UnknownRecord),
    created_at: t.string,
  },
);
/** A voucher or promotion was redeemed; `redemption` says which, for what order. */
export type RedemptionSucceededData = t.TypeOf<typeof RedemptionSucceededData>;
