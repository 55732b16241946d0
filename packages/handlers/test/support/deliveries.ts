import { loadFixture } from '@vouchflow/handler-kit/testing';

type Delivery = Record<string, unknown> & { data: Record<string, unknown>; event: Record<string, unknown> };

/* Deliveries of each loyalty event, built from the shipped samples so they decode with the real codecs. */

export function pointsAdded(
  patch: { email?: string; customerId?: string; reason?: string | null; at?: string; balance?: number } = {},
): Delivery {
  const d = loadFixture<Delivery>('points_added');
  const data = d.data as { customer: Record<string, unknown>; transaction: Record<string, unknown>; balance: Record<string, unknown> };
  if (patch.email !== undefined) data.customer['email'] = patch.email;
  if (patch.customerId !== undefined) data.customer['id'] = patch.customerId;
  if (patch.reason !== undefined) data.transaction['reason'] = patch.reason;
  if (patch.balance !== undefined) data.balance['balance'] = patch.balance;
  if (patch.at !== undefined) {
    data.transaction['created_at'] = patch.at;
    data.transaction['id'] = `vtx_${patch.at.replace(/\D/g, '')}`;
    d.event['id'] = `evcus_${patch.at.replace(/\D/g, '')}`;
  }
  return d;
}

export function pointsExpired(email?: string): Delivery {
  const d = loadFixture<Delivery>('points_expired');
  if (email) (d.data['customer'] as Record<string, unknown>)['email'] = email;
  return d;
}

function pendingBase(type: string, email?: string): Delivery {
  const d = loadFixture<Delivery>('points_added');
  const { customer, campaign, voucher } = d.data;
  if (email) (customer as Record<string, unknown>)['email'] = email;
  d.event['type'] = type;
  d.event['id'] = `evcus_${type.length}pending`;
  d.data = {
    customer,
    campaign,
    voucher,
    voucher_pending_points_balance: { points: 150 },
    order: null,
    pending_points: { id: 'lopp_0e1', points: 150, activates_at: '2024-04-10T00:00:00.000Z', object: 'loyalty_pending_points' },
  };
  return d;
}

export const pendingAdded = (email?: string) => pendingBase('customer.voucher.loyalty_card.pending_points.added', email);

export function pendingActivated(email?: string): Delivery {
  const d = pendingBase('customer.voucher.loyalty_card.pending_points.activated', email);
  const added = loadFixture<Delivery>('points_added');
  const balance = { ...(added.data['balance'] as object), points: 150, balance: 2791, total: 2791 };
  d.data['balance'] = balance;
  d.data['transaction'] = {
    ...(added.data['transaction'] as object),
    id: 'vtx_activation1',
    type: 'PENDING_POINTS_ACTIVATION',
    reason: null,
  };
  return d;
}

export function transactionCreated(at: string, balance: number): Delivery {
  const d = pointsAdded({ at, balance });
  d.event['type'] = 'voucher.loyalty_card.transaction.created';
  d.event['id'] = `evvou_${at.replace(/\D/g, '')}`;
  const { customer, voucher, transaction } = d.data;
  d.data = { customer, voucher, transaction, balance: d.data['balance'] };
  return d;
}
