/* Tiers: a customer joined, left, was upgraded, downgraded or prolonged in a loyalty tier. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import { LoyaltyTier, SimpleCampaign, SimpleCustomer } from './entities.js';

const tierParties = { customer: nullable(SimpleCustomer), campaign: nullable(SimpleCampaign), created_at: t.string };

/** `data` of `customer.loyalty.tier.{joined,left,prolonged}`: the tier is the subject, required with its id. */
export const TierData = struct('TierData', { loyalty_tier: LoyaltyTier }, tierParties);
/** A customer joined, left or kept a loyalty tier. */
export type TierData = t.TypeOf<typeof TierData>;

/** `data` of `customer.loyalty.tier.{upgraded,downgraded}`: the tier left and the tier entered, both required. */
export const TierChangeData = struct('TierChangeData', { loyalty_tier_from: LoyaltyTier, loyalty_tier_to: LoyaltyTier }, tierParties);
/** A customer moved from one loyalty tier to another. */
export type TierChangeData = t.TypeOf<typeof TierChangeData>;

/** The tier events (distributions). */
export const TIER_EVENTS = {
  'customer.loyalty.tier.joined': TierData,
  'customer.loyalty.tier.left': TierData,
  'customer.loyalty.tier.prolonged': TierData,
  'customer.loyalty.tier.upgraded': TierChangeData,
  'customer.loyalty.tier.downgraded': TierChangeData,
} as const;
