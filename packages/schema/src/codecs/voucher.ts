/* Voucher events: a voucher was published to a customer; a gift card got credits. */
import * as t from 'io-ts';
import { Metadata, nullable, struct } from './common.js';
import { GiftBalance, LoyaltyTransaction, SimpleCampaign, SimpleCustomer, SimpleVoucher } from './entities.js';

/** A publication (`pub_…`): a voucher handed to a customer. Not in WEBHOOKS.md: every field optional. */
export const SimplePublication = t.partial(
  {
    id: t.string,
    customer_id: nullable(t.string),
    tracking_id: nullable(t.string),
    // `API`, `voucherify-web-ui`, `Automation`, …: an open string.
    channel: nullable(t.string),
    source_id: nullable(t.string),
    result: t.string,
    metadata: nullable(Metadata),
    vouchers_id: t.array(t.string),
    created_at: t.string,
    object: t.literal('publication'),
  },
  'SimplePublication',
);
export type SimplePublication = t.TypeOf<typeof SimplePublication>;

/**
 * `data` of `voucher.published` (project webhooks). The spec's only
 * non-nullable key is `voucher`, the subject, required here; the rest optional.
 */
export const VoucherPublishedData = struct(
  'VoucherPublishedData',
  { voucher: SimpleVoucher },
  {
    customer: nullable(SimpleCustomer),
    campaign: nullable(SimpleCampaign),
    publication: nullable(SimplePublication),
    created_at: t.string,
  },
);
/** A voucher was published (assigned) to a customer. */
export type VoucherPublishedData = t.TypeOf<typeof VoucherPublishedData>;

/**
 * `data` of `customer.voucher.gift.balance_added` and `voucher.gift.balance_added`:
 * credits added to a gift card. `balance` (non-nullable in the spec) is
 * required; the rest optional and nullable.
 */
export const GiftBalanceAddedData = struct(
  'GiftBalanceAddedData',
  { balance: GiftBalance },
  {
    customer: nullable(SimpleCustomer),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    transaction: nullable(LoyaltyTransaction),
  },
);
/** Credits were added to a gift card: `balance.amount` is the change in cents, `balance.balance` the funds after. */
export type GiftBalanceAddedData = t.TypeOf<typeof GiftBalanceAddedData>;
