export { Envelope, EventMeta, EventSource, DeliverySource } from './codecs/envelope.js';
export {
  SimpleCustomer,
  SimpleCampaign,
  SimpleVoucher,
  LoyaltyBalance,
  LoyaltyTransaction,
  LOYALTY_TRANSACTION_TYPES,
  PointsAddedData,
} from './codecs/loyalty.js';
export { EVENT_DATA, EVENT_TYPES, isKnownEventType, type EventType } from './events.js';
export {
  decodeDelivery,
  DeliveryDecodeError,
  type WebhookEvent,
  type EventMap,
  type UnknownWebhookEvent,
  type DecodedDelivery,
} from './decode.js';
export { formatErrors, pathOf } from './report.js';
export { SIGNATURE_HEADER, signBody, verifySignature, compactJsonWhitespace } from './signature.js';
export { businessKeyOf, occurredAtOf } from './business.js';
