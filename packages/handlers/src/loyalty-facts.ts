import type { WebhookEvent } from '@vouchflow/schema';

/*
 * The numbers both built-ins need, read from any loyalty-card event. The
 * events differ in where they keep them (points_added has `balance`,
 * points_expired only `transaction.details.balance`, pending points their
 * own block), so this reads the known places in order instead of switching on
 * every event name; a twin (no `customer.` prefix) reads the same.
 */

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** What an event says about a customer's loyalty card. Absent fields were not in the event. */
export interface LoyaltyFacts {
  customerId?: string;
  customerEmail?: string;
  customerName?: string;
  cardCode?: string;
  campaignName?: string;
  /** The change: positive for added, negative for expired or spent. */
  pointsChange?: number;
  /** Spendable balance after the change. */
  balance?: number;
  /** Lifetime total after the change. */
  total?: number;
  transactionType?: string;
  reason?: string;
  /** For points_expired: the points that expired (positive). */
  expiredPoints?: number;
  /** For pending points: the pending amount and when it becomes spendable. */
  pendingPoints?: number;
  pendingActivatesAt?: string;
}

export function loyaltyFacts(event: Pick<WebhookEvent, 'data'>): LoyaltyFacts {
  const data = event.data as Rec;
  // transaction.created sends the transaction itself as `data`.
  const transaction = rec(data['transaction']) ?? (str(data['id'])?.startsWith('vtx_') ? data : undefined);
  const customer = rec(data['customer']);
  const voucher = rec(data['voucher']);
  const card = rec(voucher?.['loyalty_card']);
  const balance = rec(data['balance']) ?? rec(rec(transaction?.['details'])?.['balance']);
  const pending = rec(data['pending_points']);
  const pendingBalance = rec(data['voucher_pending_points_balance']);
  const expired = num(data['points']);

  return {
    customerId: str(customer?.['id']) ?? str(voucher?.['holder_id']),
    customerEmail: str(customer?.['email']),
    customerName: str(customer?.['name']),
    cardCode: str(voucher?.['code']),
    campaignName: str(rec(data['campaign'])?.['name']) ?? str(voucher?.['campaign']),
    pointsChange: num(balance?.['points']) ?? (expired === undefined ? undefined : -expired),
    balance: num(balance?.['balance']) ?? num(card?.['balance']),
    total: num(balance?.['total']) ?? num(card?.['points']),
    transactionType: str(transaction?.['type']),
    reason: str(transaction?.['reason']),
    expiredPoints: expired,
    pendingPoints: num(pending?.['points']) ?? num(pendingBalance?.['points']) ?? num(card?.['pending_points']),
    pendingActivatesAt: str(pending?.['activates_at']),
  };
}
