/* Rewards: a customer was rewarded (referral, loyalty points) or redeemed a reward. */
import * as t from 'io-ts';
import { Metadata, nullable, openString, struct } from './common.js';
import { AnyBalance, LoyaltyTier, LoyaltyTransaction, SimpleCampaign, SimpleCustomer, SimpleOrder, SimpleVoucher } from './entities.js';
import { SimplePublication } from './publication.js';
import { SimpleRedemption } from './redemption.js';

/** Reward kinds; open, Voucherify may add one. */
export const REWARD_TYPES = ['CAMPAIGN', 'COIN', 'MATERIAL'] as const;

/** A reward (`rew_…`). Not described in WEBHOOKS.md: every field optional. */
export const SimpleReward = t.partial(
  {
    id: t.string,
    name: nullable(t.string),
    type: openString('RewardType', REWARD_TYPES),
    // Depends on `type` (a campaign, coin ratio or product): kept whole.
    parameters: nullable(t.UnknownRecord),
    assignment_id: nullable(t.string),
    product: nullable(t.UnknownRecord),
    voucher: nullable(SimpleVoucher),
    metadata: nullable(Metadata),
    created_at: t.string,
    updated_at: nullable(t.string),
    object: t.literal('reward'),
  },
  'SimpleReward',
);
export type SimpleReward = t.TypeOf<typeof SimpleReward>;

/** Who and what a reward event is about; every reward event carries these, each optional and nullable. */
const rewardParties = {
  customer: nullable(SimpleCustomer),
  holder: nullable(SimpleCustomer),
  voucher: nullable(SimpleVoucher),
  campaign: nullable(SimpleCampaign),
};

/**
 * `data` of `customer.rewarded` (a distribution event and a project event of
 * the same name). The spec marks every key nullable and none required: which
 * ones come depends on what earned the reward (a referral, a custom event, a
 * segment), so all are optional.
 */
export const CustomerRewardedData = t.partial(
  {
    ...rewardParties,
    redemption: nullable(SimpleRedemption),
    reward: nullable(SimpleReward),
    referral_tier: nullable(t.UnknownRecord),
    balance: nullable(AnyBalance),
    custom_event: nullable(t.UnknownRecord),
    customer_event: nullable(t.UnknownRecord),
  },
  'CustomerRewardedData',
);
/** A customer was rewarded; every key optional, since what comes depends on what earned the reward. */
export type CustomerRewardedData = t.TypeOf<typeof CustomerRewardedData>;

/**
 * `data` of `customer.rewarded.loyalty_points` (same name in both webhook
 * kinds): points earned through an earning rule. All keys optional and
 * nullable per the spec; `balance`, when present, is a full loyalty balance.
 */
export const CustomerRewardedLoyaltyPointsData = t.partial(
  {
    ...rewardParties,
    // Tier and rule configuration: kept whole, nothing here reads inside them.
    loyalty_tier: nullable(LoyaltyTier),
    earning_rule: nullable(t.UnknownRecord),
    // The spec leaves the balance's `type` and `points` optional: nothing here reads it.
    balance: nullable(AnyBalance),
    order: nullable(SimpleOrder),
    event: nullable(
      t.partial(
        { id: t.string, type: t.string, category: nullable(t.string), entity_id: t.string, group_id: t.string, created_at: t.string },
        'RewardingEvent',
      ),
    ),
    publication: nullable(SimplePublication),
  },
  'CustomerRewardedLoyaltyPointsData',
);
/** A customer earned loyalty points through an earning rule. */
export type CustomerRewardedLoyaltyPointsData = t.TypeOf<typeof CustomerRewardedLoyaltyPointsData>;

/** Reward redemption statuses; open. */
export const REWARD_REDEMPTION_STATUSES = ['PENDING', 'COMPLETED', 'CANCELED'] as const;

/** A customer's redemption of a reward (`rewr_…`); `id` is required, the once-only key reads it. */
export const RewardRedemption = struct(
  'RewardRedemption',
  { id: t.string },
  {
    status: openString('RewardRedemptionStatus', REWARD_REDEMPTION_STATUSES),
    // What the spec's examples send in place of `status`.
    state: openString('RewardRedemptionStatus', REWARD_REDEMPTION_STATUSES),
    customer_id: nullable(t.string),
    reward_id: t.string,
    reward_assignment_id: t.string,
    voucher_id: t.string,
    campaign_id: t.string,
    source_id: nullable(t.string),
    source_type: nullable(t.string),
    points: nullable(t.number),
    created_at: t.string,
    updated_at: nullable(t.string),
    object: t.string,
  },
);
export type RewardRedemption = t.TypeOf<typeof RewardRedemption>;

/**
 * `data` of `customer.reward_redemptions.{created,pending,completed}`. The
 * reward redemption is the subject and required; the rest optional. The
 * `balance` may be a loyalty balance or only `{amount}` (the spec's schema).
 */
export const RewardRedemptionData = struct(
  'RewardRedemptionData',
  { reward_redemption: RewardRedemption },
  {
    ...rewardParties,
    reward: nullable(SimpleReward),
    reward_assignment: nullable(t.UnknownRecord),
    source: nullable(t.partial({ id: t.string, type: t.string }, 'RewardRedemptionSource')),
    redemption: nullable(SimpleRedemption),
    balance: nullable(AnyBalance),
    transaction: nullable(LoyaltyTransaction),
    order: nullable(SimpleOrder),
    publication: nullable(SimplePublication),
  },
);
/** A customer redeemed a reward (created, pending or completed). */
export type RewardRedemptionData = t.TypeOf<typeof RewardRedemptionData>;

/** The reward events. */
export const REWARD_EVENTS = {
  'customer.rewarded': CustomerRewardedData,
  'customer.rewarded.loyalty_points': CustomerRewardedLoyaltyPointsData,
  'customer.reward_redemptions.created': RewardRedemptionData,
  'customer.reward_redemptions.pending': RewardRedemptionData,
  'customer.reward_redemptions.completed': RewardRedemptionData,
} as const;
