/*
 * The building blocks Voucherify embeds in many events' `data`: the
 * simplified customer, campaign, voucher and order, balances and transactions.
 *
 * Rules used throughout (so a reviewer can check each field against them):
 * - A field WEBHOOKS.md lists as required is required; one it marks nullable
 *   accepts null; one real payloads omit (it says where) is optional.
 * - Objects whose shape nobody documents are `t.partial`: nothing is rejected,
 *   yet the types make a handler check before use, and keys we do not model
 *   show up as drift (see drift.ts).
 * - `object` markers (`"customer"`, `"balance"`, …) are literals: they say what
 *   the object is, and Voucherify never changes them.
 * - Documented enums that Voucherify extends are `openString`: any string
 *   decodes, the known values are in the type. Each such field says so.
 */
import * as t from 'io-ts';
import { Metadata, nullable, openString, struct } from './common.js';

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
/** The simplified customer Voucherify embeds in events: all optional; fetch the full customer for its e-mail. */
export type SimpleCustomer = t.TypeOf<typeof SimpleCustomer>;

/** Voucher kinds. Open: a new kind of voucher must not fail events about it. */
export const VOUCHER_TYPES = ['DISCOUNT_VOUCHER', 'LOYALTY_CARD', 'GIFT_VOUCHER'] as const;
export const VoucherType = openString('VoucherType', VOUCHER_TYPES);

export const CodeConfig = t.partial(
  {
    length: t.number,
    // Real payloads omit prefix and postfix although the spec marks them required.
    prefix: nullable(t.string),
    postfix: nullable(t.string),
    charset: t.string,
    pattern: t.string,
    initial_count: t.number,
  },
  'CodeConfig',
);

export const RedemptionCounts = t.partial(
  {
    /** null means unlimited. */
    quantity: nullable(t.number),
    // Real payloads omit it although the spec marks it required.
    redeemed_quantity: t.number,
    // Sent although the spec lacks it.
    redeemed_points: t.number,
    redeemed_amount: t.number,
    // The full voucher's link to its redemptions list.
    object: t.string,
    url: t.string,
  },
  'RedemptionCounts',
);

/** Campaign kinds; `AUTO_UPDATE | STATIC | STANDALONE`, open: a new kind must not fail the event. */
export const CAMPAIGN_KINDS = ['AUTO_UPDATE', 'STATIC', 'STANDALONE'] as const;
/** `campaign_type` is an open list by Voucherify's own description. */
export const CAMPAIGN_TYPES = [
  'LOYALTY_PROGRAM',
  'DISCOUNT_COUPONS',
  'GIFT_VOUCHERS',
  'REFERRAL_PROGRAM',
  'PROMOTION',
  'LUCKY_DRAW',
] as const;

/** The simplified campaign; every field optional. */
export const SimpleCampaign = t.partial(
  {
    id: t.string,
    name: t.string,
    type: openString('CampaignKind', CAMPAIGN_KINDS),
    campaign_type: openString('CampaignType', CAMPAIGN_TYPES),
    is_referral_code: t.boolean,
    auto_join: t.boolean,
    join_once: t.boolean,
    active: t.boolean,
    voucher: t.partial(
      {
        type: VoucherType,
        // Discount and gift settings are campaign configuration no handler here reads: kept whole.
        discount: nullable(t.UnknownRecord),
        gift: nullable(t.UnknownRecord),
        loyalty_card: nullable(t.UnknownRecord),
        redemption: RedemptionCounts,
        code_config: CodeConfig,
        is_referral_code: t.boolean,
        start_date: nullable(t.string),
        expiration_date: nullable(t.string),
      },
      'CampaignVoucher',
    ),
    category_id: nullable(t.string),
    category: nullable(t.string),
    start_date: nullable(t.string),
    expiration_date: nullable(t.string),
    description: nullable(t.string),
    metadata: nullable(Metadata),
    created_at: t.string,
    updated_at: nullable(t.string),
    object: t.literal('campaign'),
    categories: t.array(t.UnknownRecord),
    referral_program: nullable(t.UnknownRecord),
  },
  'SimpleCampaign',
);
/** The simplified campaign Voucherify embeds in events; every field optional. */
export type SimpleCampaign = t.TypeOf<typeof SimpleCampaign>;

/** A loyalty card's state on the voucher, after the event. */
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

/** A gift card's state on the voucher: amounts in cents. */
export const GiftCardState = t.partial(
  { amount: t.number, balance: t.number, subtracted_amount: t.number, effect: t.string },
  'GiftCardState',
);

/** The simplified voucher; every field optional (each event sends a different subset). */
export const SimpleVoucher = t.partial(
  {
    id: t.string,
    code: t.string,
    type: VoucherType,
    campaign: nullable(t.string),
    campaign_id: nullable(t.string),
    is_referral_code: t.boolean,
    holder_id: nullable(t.string),
    category_id: nullable(t.string),
    category: nullable(t.string),
    active: nullable(t.boolean),
    created_at: t.string,
    updated_at: nullable(t.string),
    start_date: nullable(t.string),
    expiration_date: nullable(t.string),
    metadata: nullable(Metadata),
    object: t.literal('voucher'),
    redemption: RedemptionCounts,
    loyalty_card: nullable(LoyaltyCardState),
    gift: nullable(GiftCardState),
    discount: nullable(t.UnknownRecord),
    categories: t.array(t.UnknownRecord),
    referrer_id: nullable(t.string),
  },
  'SimpleVoucher',
);
/** The simplified voucher Voucherify embeds in events; every field optional. */
export type SimpleVoucher = t.TypeOf<typeof SimpleVoucher>;

/** The simplified order (redemptions, pending points); every field optional, amounts in cents. */
export const SimpleOrder = t.partial(
  {
    id: t.string,
    source_id: nullable(t.string),
    // `CREATED | PAID | CANCELED | FULFILLED`; open, an order status is not ours to police.
    status: t.string,
    customer_id: nullable(t.string),
    referrer_id: nullable(t.string),
    amount: t.number,
    initial_amount: t.number,
    discount_amount: t.number,
    items_discount_amount: t.number,
    items_applied_discount_amount: t.number,
    total_discount_amount: t.number,
    total_applied_discount_amount: t.number,
    total_amount: t.number,
    applied_discount_amount: t.number,
    // Line items vary by integration; kept whole.
    items: t.array(t.UnknownRecord),
    metadata: nullable(Metadata),
    created_at: t.string,
    updated_at: nullable(t.string),
    object: t.literal('order'),
    customer: nullable(t.UnknownRecord),
    referrer: nullable(t.UnknownRecord),
    redemptions: nullable(t.UnknownRecord),
  },
  'SimpleOrder',
);
export type SimpleOrder = t.TypeOf<typeof SimpleOrder>;

/** What a balance change points at: the voucher. */
export const BalanceRelatedObject = t.type({ id: t.string, type: t.literal('voucher') }, 'BalanceRelatedObject');

/**
 * A loyalty card balance after a change: `points` is the change, `balance`
 * spendable, `total` lifetime. Those three are what the built-in handlers
 * write to the customer and the CRM, so they are required; the markers are
 * optional (nothing reads them) but still say what the object is when sent.
 */
export const LoyaltyBalance = struct(
  'LoyaltyBalance',
  { total: t.number, points: t.number, balance: t.number },
  {
    type: t.literal('loyalty_card'),
    object: t.literal('balance'),
    related_object: BalanceRelatedObject,
    operation_type: openString('BalanceOperationType', ['MANUAL', 'AUTOMATIC']),
  },
);
/** A loyalty card balance after a change: `points` is the change (negative when removed), `balance` spendable, `total` lifetime. */
export type LoyaltyBalance = t.TypeOf<typeof LoyaltyBalance>;

/** `MANUAL | AUTOMATIC`; open, it only describes how a change came about. */
export const BALANCE_OPERATION_TYPES = ['MANUAL', 'AUTOMATIC'] as const;

/** A voucher balance inside `transaction.details`: loyalty points or gift credits, hence the optional `points`/`amount`. */
export const VoucherBalance = struct(
  'VoucherBalance',
  { total: t.number, object: t.literal('balance'), balance: t.number, related_object: BalanceRelatedObject },
  {
    // `loyalty_card | gift_voucher`: open, the kind of card is also on the voucher.
    type: t.string,
    points: t.number,
    amount: t.number,
    operation_type: openString('BalanceOperationType', BALANCE_OPERATION_TYPES),
  },
);
export type VoucherBalance = t.TypeOf<typeof VoucherBalance>;

/**
 * A gift card balance after credits were added (`voucher.gift.balance_added`),
 * amounts in cents. WEBHOOKS.md does not list its fields; the OpenAPI
 * description's voucher-balance body does: `amount` (the change) and `balance`
 * are required here, the rest optional.
 */
export const GiftBalance = struct(
  'GiftBalance',
  { amount: t.number, balance: t.number },
  {
    total: t.number,
    type: t.string,
    object: t.literal('balance'),
    operation_type: openString('BalanceOperationType', BALANCE_OPERATION_TYPES),
    related_object: BalanceRelatedObject,
  },
);
export type GiftBalance = t.TypeOf<typeof GiftBalance>;

const IdOnly = t.type({ id: t.string }, 'IdRef');
const IdName = struct('IdNameRef', { id: t.string }, { name: nullable(t.string) });

/**
 * What a transaction was about. Every key optional. Those WEBHOOKS.md spells
 * out are typed; the others (earning rule, segment, tiers, custom event,
 * pending points, source/destination voucher) are named but not described
 * there, so they are kept whole rather than guessed.
 */
export const TransactionDetails = t.partial(
  {
    balance: VoucherBalance,
    order: struct('TransactionOrderRef', { id: t.string }, { source_id: nullable(t.string) }),
    event: struct('TransactionEventRef', { id: t.string }, { type: t.string }),
    earning_rule: t.UnknownRecord,
    segment: t.UnknownRecord,
    loyalty_tier: t.UnknownRecord,
    holder_loyalty_tier: t.UnknownRecord,
    redemption: IdOnly,
    rollback: IdOnly,
    custom_event: t.UnknownRecord,
    event_schema: t.UnknownRecord,
    pending_points: t.UnknownRecord,
    reward: IdName,
    source_voucher: t.UnknownRecord,
    destination_voucher: t.UnknownRecord,
  },
  'TransactionDetails',
);
export type TransactionDetails = t.TypeOf<typeof TransactionDetails>;

/** The loyalty transaction types WEBHOOKS.md lists. Gift cards add `CREDITS_*`. */
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

/** Where a transaction came from; open by WEBHOOKS.md's own description. */
export const TRANSACTION_SOURCES = ['voucherify-web-ui', 'API', 'Automation'] as const;

/**
 * A voucher transaction (`vtx_…`): a change of a loyalty card's points or a
 * gift card's credits. Only what something reads is required: `id` (the
 * once-only key), `created_at` (the ordering time) and `type`. Project
 * webhooks trim it to `{id, campaign_id, type, details: null, created_at}`
 * (the spec's own examples), so every other key is optional. `type` and
 * `source` are open strings: Voucherify has already extended the type list
 * (gift cards' `CREDITS_*`, the spec's `POINTS_CANCELLATION`), and one new
 * value must not turn a good event into a dead letter.
 */
export const LoyaltyTransaction = struct(
  'LoyaltyTransaction',
  { id: t.string, type: openString('TransactionType', LOYALTY_TRANSACTION_TYPES), created_at: t.string },
  {
    source_id: nullable(t.string),
    voucher_id: t.string,
    campaign_id: t.string,
    source: nullable(openString('TransactionSource', TRANSACTION_SOURCES)),
    reason: nullable(t.string),
    details: nullable(TransactionDetails),
    related_transaction_id: nullable(t.string),
  },
);
/** A voucher transaction (`vtx_…`); its `id` names the business fact and is what side effects key on. */
export type LoyaltyTransaction = t.TypeOf<typeof LoyaltyTransaction>;

/**
 * A balance as the reward and tier events send it: a loyalty card's points,
 * a gift card's amount, or only `{amount}` (a reward redemption paid in
 * money). Nothing reads it, so every key is optional.
 */
export const AnyBalance = t.partial(
  {
    type: t.string,
    total: t.number,
    points: t.number,
    amount: t.number,
    balance: t.number,
    object: t.string,
    operation_type: t.string,
    related_object: t.partial({ id: t.string, type: t.string }, 'AnyBalanceRelatedObject'),
  },
  'AnyBalance',
);
export type AnyBalance = t.TypeOf<typeof AnyBalance>;

/** Props of a subject: the object an event is about. Its `id` is required: the once-only key and plugins read it. */
export const subject = <O extends t.Props>(name: string, optional: O) => struct(name, { id: t.string }, optional);

const nested = nullable(t.UnknownRecord);

/*
 * The full objects the customer, voucher and campaign events (and a
 * publication) send: the simplified ones plus their configuration, kept
 * whole. Apart from the simplified ones because `is` looks up every declared
 * key, and the loyalty events, the ones that matter for speed, never send
 * these.
 */
const customerDetails = {
  ...SimpleCustomer.props,
  description: nullable(t.string),
  phone: nullable(t.string),
  birthdate: nullable(t.string),
  birthday: nullable(t.string),
  address: nullable(t.UnknownRecord),
  summary: nullable(t.UnknownRecord),
  loyalty: nullable(t.UnknownRecord),
  referrals: nullable(t.UnknownRecord),
  system_metadata: nullable(t.UnknownRecord),
  created_at: t.string,
  updated_at: nullable(t.string),
};
/** The customer with its summaries, every field optional (a publication's customer). */
export const CustomerDetails = t.partial(customerDetails, 'CustomerDetails');
/** The customer as the subject of its event: its `id` is required. */
export const Customer = subject('Customer', customerDetails);
export type Customer = t.TypeOf<typeof Customer>;

const voucherDetails = {
  ...SimpleVoucher.props,
  assets: nullable(t.UnknownRecord),
  publish: nullable(t.UnknownRecord),
  additional_info: nullable(t.string),
  validity_timeframe: nullable(t.UnknownRecord),
  validity_day_of_week: nullable(t.array(t.number)),
  validity_hours: nullable(t.UnknownRecord),
  validation_rules_assignments: nullable(t.UnknownRecord),
};
/** The voucher with its configuration, every field optional (a publication's voucher). */
export const VoucherDetails = t.partial(voucherDetails, 'VoucherDetails');
/** The voucher as the subject of its event: its `id` is required. */
export const Voucher = subject('Voucher', voucherDetails);
export type Voucher = t.TypeOf<typeof Voucher>;

/** The campaign as the subject of its event: its `id` is required. */
export const Campaign = subject('Campaign', {
  ...SimpleCampaign.props,
  protected: t.boolean,
  vouchers_count: t.number,
  creation_status: t.string,
  vouchers_generation_status: t.string,
  use_voucher_metadata_schema: t.boolean,
  validity_day_of_week: nullable(t.array(t.number)),
  validity_timeframe: nullable(t.UnknownRecord),
  loyalty_tiers_expiration: nullable(t.UnknownRecord),
  activity_duration_after_publishing: t.string,
});
export type Campaign = t.TypeOf<typeof Campaign>;

/** A loyalty tier (`ltr_…`); its points range and configuration are kept whole. */
export const LoyaltyTier = subject('LoyaltyTier', {
  name: t.string,
  campaign_id: t.string,
  metadata: nullable(Metadata),
  created_at: t.string,
  updated_at: nullable(t.string),
  earning_rules: nested,
  rewards: nested,
  config: nested,
  points: nested,
  expiration: nested,
  object: t.literal('loyalty_tier'),
});
export type LoyaltyTier = t.TypeOf<typeof LoyaltyTier>;

/** A customer segment (`seg_…`). */
export const Segment = subject('Segment', { name: t.string, object: t.literal('segment') });
export type Segment = t.TypeOf<typeof Segment>;

/** An order as the subject of its event: its `id` is required. */
export const Order = subject('Order', SimpleOrder.props);
export type Order = t.TypeOf<typeof Order>;

/** An earning rule; its configuration is kept whole. */
export const EarningRule = nullable(t.UnknownRecord);
