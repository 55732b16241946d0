/** Events whose delivery changes a loyalty card's balance, distribution and project-level alike. */
export const BALANCE_EVENT_NAMES = [
  'customer.voucher.loyalty_card.points_added',
  'voucher.loyalty_card.points_added',
  'customer.voucher.loyalty_card.points_expired',
  'voucher.loyalty_card.points_expired',
  'customer.voucher.loyalty_card.pending_points.activated',
  'voucher.loyalty_card.pending_points.activated',
  'voucher.loyalty_card.transaction.created',
] as const;

/** Events the `email` handler writes to the customer about. */
export const EMAIL_EVENT_NAMES = [
  'customer.voucher.loyalty_card.points_added',
  'voucher.loyalty_card.points_added',
  'customer.voucher.loyalty_card.points_expired',
  'voucher.loyalty_card.points_expired',
  'customer.voucher.loyalty_card.pending_points.added',
  'voucher.loyalty_card.pending_points.added',
  'customer.voucher.loyalty_card.pending_points.activated',
  'voucher.loyalty_card.pending_points.activated',
] as const;
