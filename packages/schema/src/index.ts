export { Envelope, EventMeta, EventSource, DeliverySource, EVENT_CHANNELS, DELIVERY_SOURCE_OBJECTS } from './codecs/envelope.js';
export { nullable, openString } from './codecs/common.js';
export {
  SimpleCustomer,
  SimpleCampaign,
  SimpleVoucher,
  SimpleOrder,
  CodeConfig,
  RedemptionCounts,
  LoyaltyCardState,
  GiftCardState,
  LoyaltyBalance,
  AnyBalance,
  VoucherBalance,
  GiftBalance,
  TransactionDetails,
  LoyaltyTransaction,
  VoucherType,
  Customer,
  Voucher,
  Campaign,
  LoyaltyTier,
  Segment,
  Order,
  LOYALTY_TRANSACTION_TYPES,
  TRANSACTION_SOURCES,
  VOUCHER_TYPES,
  CAMPAIGN_KINDS,
  CAMPAIGN_TYPES,
  BALANCE_OPERATION_TYPES,
} from './codecs/entities.js';
export {
  PointsAddedData,
  PointsExpiredData,
  PointsBucket,
  PendingPoints,
  PendingPointsSubject,
  PendingPointsBalance,
  PendingPointsData,
  PendingPointsActivatedData,
  LoyaltyTransactionCreatedData,
  LOYALTY_EVENTS,
} from './codecs/loyalty.js';
export {
  SimpleRedemption,
  RedemptionSubject,
  RedemptionData,
  RedemptionRollbackData,
  REDEMPTION_RESULTS,
  REDEMPTION_STATUSES,
  REDEMPTION_EVENTS,
} from './codecs/redemption.js';
export {
  SimpleReward,
  RewardRedemption,
  CustomerRewardedData,
  CustomerRewardedLoyaltyPointsData,
  RewardRedemptionData,
  REWARD_TYPES,
  REWARD_REDEMPTION_STATUSES,
  REWARD_EVENTS,
} from './codecs/rewards.js';
export { SimplePublication, PublicationSubject, PublicationSucceededData, PUBLICATION_EVENTS } from './codecs/publication.js';
export {
  VoucherChangedData,
  VoucherPublishedData,
  GiftBalanceAddedData,
  GiftTransactionCreatedData,
  VOUCHER_EVENTS,
} from './codecs/voucher.js';
export {
  CustomerChangedData,
  CustomEvent,
  CustomerCustomEventData,
  RedeemableHolder,
  HolderAssignmentData,
  CUSTOMER_EVENTS,
} from './codecs/customer.js';
export { TierData, TierChangeData, TIER_EVENTS } from './codecs/tiers.js';
export { OrderData, ORDER_EVENTS } from './codecs/orders.js';
export { SegmentData, SEGMENT_EVENTS } from './codecs/segments.js';
export {
  CampaignChangedData,
  VouchersGeneratedData,
  CampaignLoyaltyTierData,
  PromotionTier,
  PromotionTierData,
  CAMPAIGN_EVENTS,
} from './codecs/campaign.js';
export {
  ValidationRule,
  ValidationRuleData,
  RuleAssignment,
  RuleAssignmentData,
  VALIDATION_RULE_EVENTS,
} from './codecs/validation-rule.js';
export { Distribution, DistributionScheduleData, DISTRIBUTION_EVENTS } from './codecs/distribution.js';
export {
  EVENT_DATA,
  EVENT_GROUPS,
  EVENT_TYPES,
  isKnownEventType,
  groupOf,
  type EventType,
  type EventGroup,
  type EventData,
} from './events.js';
export {
  decodeDelivery,
  isEventOf,
  isKnownEvent,
  DeliveryDecodeError,
  type DecodeFailureKind,
  type WebhookEvent,
  type EventMap,
  type UnknownWebhookEvent,
  type HandledEvent,
  type DecodedDelivery,
} from './decode.js';
export { formatErrors, pathOf } from './report.js';
export { unknownKeys, driftOf } from './drift.js';
export { SIGNATURE_HEADER, signBody, verifySignature, compactJsonWhitespace } from './signature.js';
export { businessKeyOf, occurredAtOf, EVENT_IDENTITY, type KeyRule, type TimeRule } from './business.js';
export { dataKeysOf } from './data-keys.js';
export { subjectsOf, normaliseEmail, type EventSubjects } from './subjects.js';
