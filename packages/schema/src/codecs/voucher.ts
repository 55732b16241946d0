/* Voucher and gift: a code was created, changed, published or deleted; a gift card got credits. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import { GiftBalance, LoyaltyTransaction, SimpleCampaign, SimpleCustomer, SimpleOrder, SimpleVoucher, Voucher } from './entities.js';
import { SimplePublication } from './publication.js';

/**
 * `data` of `voucher.{created,updated,enabled,disabled,deleted}`: the voucher
 * is the subject and required, with its id; its campaign comes along.
 */
export const VoucherChangedData = struct('VoucherChangedData', { voucher: Voucher }, { campaign: nullable(SimpleCampaign) });
/** A voucher was created, changed, enabled, disabled or deleted. */
export type VoucherChangedData = t.TypeOf<typeof VoucherChangedData>;

/**
 * `data` of `voucher.published` (project webhooks): the voucher is the
 * subject and required; the publication, customer and campaign come along.
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
 * required; the transaction (trimmed by project webhooks) and the rest optional.
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

/**
 * `data` of `voucher.gift.transaction.created`: the transaction is the
 * subject and required; what caused it (an order, a redemption, a rollback)
 * comes along, null where it does not apply.
 */
export const GiftTransactionCreatedData = struct(
  'GiftTransactionCreatedData',
  { transaction: LoyaltyTransaction },
  {
    voucher: nullable(Voucher),
    campaign: nullable(SimpleCampaign),
    holder: nullable(SimpleCustomer),
    balance: nullable(GiftBalance),
    order: nullable(SimpleOrder),
    redemption: nullable(t.UnknownRecord),
    rollback: nullable(t.UnknownRecord),
  },
);
/** A gift card transaction was recorded. */
export type GiftTransactionCreatedData = t.TypeOf<typeof GiftTransactionCreatedData>;

/** The voucher and gift events. */
export const VOUCHER_EVENTS = {
  'voucher.created': VoucherChangedData,
  'voucher.updated': VoucherChangedData,
  'voucher.enabled': VoucherChangedData,
  'voucher.disabled': VoucherChangedData,
  'voucher.deleted': VoucherChangedData,
  'voucher.published': VoucherPublishedData,
  'customer.voucher.gift.balance_added': GiftBalanceAddedData,
  'voucher.gift.balance_added': GiftBalanceAddedData,
  'voucher.gift.transaction.created': GiftTransactionCreatedData,
} as const;
