/**
 * The contact properties the `crm` handler writes, by key, with the HubSpot
 * internal names used unless `CRM_PROPERTIES` renames them. Create them in
 * HubSpot first (Settings → Properties); `voucherify_customer_id` must be a
 * unique-value property to serve as the upsert id.
 */
export const CRM_PROPERTY_DEFAULTS = {
  /** Spendable points after the latest change. */
  balance: 'loyalty_points_balance',
  /** Points earned over the card's life. */
  total: 'loyalty_points_total',
  /** The loyalty card (voucher) code. */
  card_code: 'loyalty_card_code',
  /** `POINTS_ADDITION`, `POINTS_EXPIRATION`, … */
  last_transaction_type: 'loyalty_last_transaction_type',
  /** ISO 8601 time of the latest change. */
  last_transaction_at: 'loyalty_last_transaction_at',
  /** Signed points of the latest change. */
  last_points_change: 'loyalty_last_points_change',
} as const;

export type CrmPropertyKey = keyof typeof CRM_PROPERTY_DEFAULTS;
