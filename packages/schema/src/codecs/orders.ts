/* Orders: a customer's order was created, paid, updated or canceled. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import { Order, SimpleCampaign, SimpleCustomer, SimpleVoucher } from './entities.js';

/**
 * `data` of `customer.order.{created,paid,updated,canceled}` (distributions):
 * the order is the subject, required with its id; a distribution may add the
 * campaign, code or publication it sends.
 */
export const OrderData = struct(
  'OrderData',
  { order: Order },
  {
    customer: nullable(SimpleCustomer),
    referrer: nullable(SimpleCustomer),
    redemption: nullable(t.UnknownRecord),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    publication: nullable(t.UnknownRecord),
    promotion_tier: nullable(t.UnknownRecord),
  },
);
/** A customer's order changed state. */
export type OrderData = t.TypeOf<typeof OrderData>;

/** The order events. */
export const ORDER_EVENTS = {
  'customer.order.created': OrderData,
  'customer.order.paid': OrderData,
  'customer.order.updated': OrderData,
  'customer.order.canceled': OrderData,
} as const;
