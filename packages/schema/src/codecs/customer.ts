/* Customer: created, updated, deleted, a custom event, a holder assigned to a code. */
import * as t from 'io-ts';
import { Metadata, nullable, struct } from './common.js';
import { Customer, SimpleCampaign, SimpleCustomer, SimpleVoucher, subject } from './entities.js';

/** `data` of `customer.{created,updated,deleted}`: the customer is the subject, required with its id. */
export const CustomerChangedData = t.type({ customer: Customer }, 'CustomerChangedData');
/** A customer was created, changed or deleted. */
export type CustomerChangedData = t.TypeOf<typeof CustomerChangedData>;

/** A custom event (`event_…`) a customer triggered through the API; its id is the once-only key. */
export const CustomEvent = subject('CustomEvent', {
  object: t.string,
  type: t.string,
  customer: nullable(SimpleCustomer),
  referral: nullable(t.UnknownRecord),
  loyalty: nullable(t.UnknownRecord),
  metadata: nullable(Metadata),
  created_at: t.string,
});
export type CustomEvent = t.TypeOf<typeof CustomEvent>;

/**
 * `data` of `customer.custom_event` (distributions). The custom event is the
 * subject and required; a distribution may add the campaign, code or
 * publication it sends.
 */
export const CustomerCustomEventData = struct(
  'CustomerCustomEventData',
  { event: CustomEvent },
  {
    event_schema: nullable(t.partial({ id: t.string, name: t.string }, 'CustomEventSchema')),
    customer: nullable(SimpleCustomer),
    referral: nullable(t.UnknownRecord),
    loyalty: nullable(t.UnknownRecord),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    publication: nullable(t.UnknownRecord),
    promotion_tier: nullable(t.UnknownRecord),
  },
);
/** A customer triggered a custom event. */
export type CustomerCustomEventData = t.TypeOf<typeof CustomerCustomEventData>;

/** A code's holder (`rh_…`): who holds a code and in which role (owner, referee, …). */
export const RedeemableHolder = subject('RedeemableHolder', {
  object: t.string,
  created_at: t.string,
  campaign_id: nullable(t.string),
  customer_id: nullable(t.string),
  holder_role: t.string,
  voucher_type: nullable(t.string),
  campaign_type: nullable(t.string),
  redeemable_id: t.string,
  publication_id: nullable(t.string),
  redeemable_object: t.string,
});
export type RedeemableHolder = t.TypeOf<typeof RedeemableHolder>;

/** `data` of `customer.holder.assignment.{created,deleted}`: the holder record is the subject. */
export const HolderAssignmentData = struct(
  'HolderAssignmentData',
  { holder: RedeemableHolder },
  { voucher: nullable(SimpleVoucher), campaign: nullable(SimpleCampaign), customer: nullable(SimpleCustomer) },
);
/** A customer was made (or stopped being) a holder of a code. */
export type HolderAssignmentData = t.TypeOf<typeof HolderAssignmentData>;

/** The customer events. */
export const CUSTOMER_EVENTS = {
  'customer.created': CustomerChangedData,
  'customer.updated': CustomerChangedData,
  'customer.deleted': CustomerChangedData,
  'customer.custom_event': CustomerCustomEventData,
  'customer.holder.assignment.created': HolderAssignmentData,
  'customer.holder.assignment.deleted': HolderAssignmentData,
} as const;
