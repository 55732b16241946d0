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
  VoucherBalance,
  GiftBalance,
  TransactionDetails,
  LoyaltyTransaction,
  VoucherType,
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
  PendingPointsBalance,
  PendingPointsData,
  PendingPointsActivatedData,
  LoyaltyTransactionCreatedData,
} from './codecs/loyalty.js';
export { SimpleRedemption, RedemptionSucceededData, REDEMPTION_RESULTS, REDEMPTION_STATUSES } from './codecs/redemption.js';
export {
  SimpleReward,
  RewardRedemption,
  CustomerRewardedData,
  CustomerRewardedLoyaltyPointsData,
  RewardRedemptionData,
  REWARD_TYPES,
  REWARD_REDEMPTION_STATUSES,
} from './codecs/rewards.js';
export { SimplePublication, VoucherPublishedData, GiftBalanceAddedData } from './codecs/voucher.js';
export { EVENT_DATA, EVENT_TYPES, isKnownEventType, type EventType, type EventData } from './events.js';
export {
  decodeDelivery,
  isEventOf,
  DeliveryDecodeError,
  type DecodeFailureKind,
  type WebhookEvent,
  type EventMap,
  type UnknownWebhookEvent,
  type DecodedDelivery,
} from './decode.js';
export { formatErrors, pathOf } from './report.js';
export { unknownKeys, driftOf } from './drift.js';
export { SIGNATURE_HEADER, signBody, verifySignature, compactJsonWhitespace } from './signature.js';
export { businessKeyOf, occurredAtOf } from './business.js';
