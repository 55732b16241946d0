import type { Envelope } from './codecs/envelope.js';

const transactionOf = (data: Record<string, unknown>): Record<string, unknown> | undefined => {
  const tx = data['transaction'];
  return typeof tx === 'object' && tx !== null ? (tx as Record<string, unknown>) : undefined;
};

/**
 * The business fact a delivery reports. One loyalty action fires several
 * events (a distribution's `customer.…` event and the project webhook's twins),
 * each with its own event id but the same `data.transaction.id` (`vtx_…`), so
 * side effects keyed on this happen once. Without a transaction: `event.id`.
 */
export function businessKeyOf(delivery: Pick<Envelope, 'data' | 'event'>): string {
  const id = transactionOf(delivery.data)?.['id'];
  return typeof id === 'string' && id.length > 0 ? id : delivery.event.id;
}

/**
 * When the reported change happened: the transaction's `created_at`, else the
 * event's. Events arrive out of order; a handler writing state compares these.
 */
export function occurredAtOf(delivery: Pick<Envelope, 'data' | 'event'>): Date {
  const created = transactionOf(delivery.data)?.['created_at'];
  const fromTx = typeof created === 'string' ? new Date(created) : undefined;
  if (fromTx && !Number.isNaN(fromTx.getTime())) return fromTx;
  return new Date(delivery.event.created_at);
}
