/* Campaign, earning rule, promotion and loyalty tier: configuration changed in the dashboard or through the API. */
import * as t from 'io-ts';
import { Metadata, nullable, struct } from './common.js';
import { Campaign, LoyaltyTier, SimpleCampaign, subject } from './entities.js';

/** `data` of `campaign.{created,updated,enabled,disabled,deleted}`: the campaign is the subject, required with its id. */
export const CampaignChangedData = struct('CampaignChangedData', { campaign: Campaign }, { created_at: t.string, deleted_at: t.string });
/** A campaign was created, changed, enabled, disabled or deleted. */
export type CampaignChangedData = t.TypeOf<typeof CampaignChangedData>;

/** `data` of `campaign.vouchers.generation.completed`: the campaign, and how many codes it now has. */
export const VouchersGeneratedData = struct('VouchersGeneratedData', { campaign: Campaign }, { count: t.number, completed_at: t.string });
/** A campaign's codes were generated. */
export type VouchersGeneratedData = t.TypeOf<typeof VouchersGeneratedData>;

/** `data` of `campaign.loyalty_tier.{created,updated,deleted}`: the tier is the subject. */
export const CampaignLoyaltyTierData = struct(
  'CampaignLoyaltyTierData',
  { loyalty_tier: LoyaltyTier },
  { campaign: nullable(SimpleCampaign) },
);
/** A loyalty tier was created, changed or deleted. */
export type CampaignLoyaltyTierData = t.TypeOf<typeof CampaignLoyaltyTierData>;

/** A promotion tier (`promo_…`); its action, summary and hierarchy are kept whole. */
export const PromotionTier = subject('PromotionTier', {
  name: t.string,
  banner: nullable(t.string),
  action: nullable(t.UnknownRecord),
  summary: nullable(t.UnknownRecord),
  campaign: nullable(t.UnknownRecord),
  campaign_id: t.string,
  metadata: nullable(Metadata),
  hierarchy: t.number,
  active: t.boolean,
  start_date: nullable(t.string),
  expiration_date: nullable(t.string),
  validation_rule_assignments: nullable(t.UnknownRecord),
  category_id: nullable(t.string),
  categories: t.array(t.UnknownRecord),
  created_at: t.string,
  updated_at: nullable(t.string),
  object: t.literal('promotion_tier'),
});
export type PromotionTier = t.TypeOf<typeof PromotionTier>;

/** `data` of `campaign.promotion_tier.{created,updated,enabled,disabled,deleted}`: the promotion tier is the subject. */
export const PromotionTierData = struct('PromotionTierData', { promotion_tier: PromotionTier }, { campaign: nullable(SimpleCampaign) });
/** A promotion tier was created, changed, enabled, disabled or deleted. */
export type PromotionTierData = t.TypeOf<typeof PromotionTierData>;

/** The campaign events. */
export const CAMPAIGN_EVENTS = {
  'campaign.created': CampaignChangedData,
  'campaign.updated': CampaignChangedData,
  'campaign.enabled': CampaignChangedData,
  'campaign.disabled': CampaignChangedData,
  'campaign.deleted': CampaignChangedData,
  'campaign.vouchers.generation.completed': VouchersGeneratedData,
  'campaign.loyalty_tier.created': CampaignLoyaltyTierData,
  'campaign.loyalty_tier.updated': CampaignLoyaltyTierData,
  'campaign.loyalty_tier.deleted': CampaignLoyaltyTierData,
  'campaign.promotion_tier.created': PromotionTierData,
  'campaign.promotion_tier.updated': PromotionTierData,
  'campaign.promotion_tier.enabled': PromotionTierData,
  'campaign.promotion_tier.disabled': PromotionTierData,
  'campaign.promotion_tier.deleted': PromotionTierData,
} as const;
