/* Rewards: a customer was rewarded (referral, loyalty points) or redeemed a reward. */
import * as t from 'io-ts';
import { Metadata, nullable, openString } from './common.js';
import { LoyaltyBalance, LoyaltyTransaction, SimpleCampaign, SimpleCustomer, SimpleOrder, SimpleVoucher } from './entities.js';
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
    balance: nullable(t.partial({ amount: t.number }, 'RewardBalance')),
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
    loyalty_tier: nullable(t.UnknownRecord),
    earning_rule: nullable(t.UnknownRecord),
    balance: nullable(LoyaltyBalance),
    order: nullable(SimpleOrder),
    event: nullable(t.partial({ id: t.string, type: t.string }, 'RewardingEvent')),
  },
  'CustomerRewardedLoyaltyPointsData',
);
/** A customer earned loyalty points through an earning rule. */
export type CustomerRewardedLoyaltyPointsData = t.TypeOf<typeof CustomerRewardedLoyaltyPointsData>;

/** Reward redemption statuses; open. */
export const REWARD_REDEMPTION_STATUSES = ['PENDING', 'COMPLETED', 'CANCELED'] as const;

/** A customer's redemption of a reward. Not described in WEBHOOKS.md: every field optional. */
export const RewardRedemption = t.partial(
  {
    id: t.string,
    status: openString('RewardRedemptionStatus', REWARD_REDEMPTION_STATUSES),
    customer_id: nullable(t.string),
    reward_id: t.string,
    voucher_id: t.string,
    points: nullable(t.number),
    created_at: t.string,
    updated_at: nullable(t.string),
    object: t.string,
  },
  'RewardRedemption',
);
export type RewardRedemption = t.TypeOf<typeof RewardRedemption>;

/**
 * `data` of `customer.reward_redemptions.{created,pending,completed}`.
 * WEBHOOKS.md names these events but gives no fields, so every key is
 * optional; what real deliveries carry beyond these shows up as drift.
 */
export const RewardRedemptionData = t.partial(
  {
    ...rewardParties,
    reward: nullable(SimpleReward),
    reward_redemption: nullable(RewardRedemption),
    reward_assignment: nullable(t.UnknownRecord),
    redemption: nullable(SimpleRedemption),
    balance: nullable(LoyaltyBalance),
    transaction: nullable(LoyaltyTransaction),
    order: nullable(SimpleOrder),
  },
  'RewardRedemptionData',
);
/** A customer redeemed a reward (created, pending or completed); every key optional. */
export type RewardRedemptionData = t.TypeOf<typeof RewardRedemptionData>;
