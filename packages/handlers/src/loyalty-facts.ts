import type { WebhookEvent } from '@vouchflow/schema';
import type { DeepReadonly } from '@vouchflow/handler-kit';
import type { BALANCE_EVENT_NAMES, EMAIL_EVENT_NAMES } from './event-names.js';

/** The loyalty-card events the built-ins subscribe to. */
export type LoyaltyEventType = (typeof BALANCE_EVENT_NAMES)[number] | (typeof EMAIL_EVENT_NAMES)[number];

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

const present = <T>(value: T | null | undefined): T | undefined => (value === null || value === '' ? undefined : value);

/**
 * The numbers both built-ins need, from any loyalty-card event. The events
 * keep them in different places (points_added has `balance`, points_expired
 * only `transaction.details.balance`, pending points their own block), so
 * this reads the places in order, narrowing by what `data` holds rather than
 * switching on every name; a project-level twin reads like its distribution
 * event.
 */
export function loyaltyFacts(event: DeepReadonly<WebhookEvent<LoyaltyEventType>>): LoyaltyFacts {
  const { data } = event;
  const transaction = 'transaction' in data ? data.transaction : null;
  const balance = ('balance' in data ? data.balance : null) ?? transaction?.details?.balance;
  const card = data.voucher?.loyalty_card;
  const pending = 'pending_points' in data ? data.pending_points : undefined;
  const expired = 'buckets' in data ? data.points : undefined;

  return {
    customerId: present(data.customer?.id) ?? present(data.voucher?.holder_id),
    // Untrimmed: the email handler's address rule judges exactly what the payload says.
    customerEmail: present(data.customer?.email),
    customerName: present(data.customer?.name),
    cardCode: present(data.voucher?.code),
    campaignName: present(data.campaign?.name) ?? present(data.voucher?.campaign),
    pointsChange: balance?.points ?? (expired === undefined ? undefined : -expired),
    balance: balance?.balance ?? card?.balance,
    total: balance?.total ?? card?.points,
    transactionType: present(transaction?.type),
    reason: present(transaction?.reason),
    expiredPoints: expired,
    pendingPoints: pending?.points ?? ('voucher_pending_points_balance' in data ? data.voucher_pending_points_balance?.points : undefined),
    pendingActivatesAt: present(pending?.activates_at),
  };
}
