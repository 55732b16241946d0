import type { EventMeta } from './codecs/envelope.js';
import { isKnownEventType, type EventType } from './events.js';

/**
 * How an event type names the business fact it reports, when it carries no
 * transaction (a transaction's `vtx_…` id always wins).
 *
 * - `subject`: the key of `data` holding the object the event is about; its
 *   `id` is the key.
 * - `named`: the id alone is not one happening (a customer is created once but
 *   updated often), so the event name is added, without its `customer.`
 *   prefix: a distribution's event and its project-webhook twin share a key.
 * - `version`: for happenings that repeat on the same object (updated,
 *   enabled, disabled), the path in `data` of what tells one from the next.
 *   Without it in the delivery, the key is the event's id.
 * - `'event'`: the event's id. For distribution-only events about a
 *   customer and something else (a tier, a segment) that may repeat: the
 *   event itself is the happening, and no twin shares it.
 */
export type KeyRule = { subject: string; named?: true; version?: string } | 'event';

/**
 * When the reported change happened, besides the transaction's `created_at`:
 * paths in `data`, tried in order, before the event's `created_at`.
 */
export type TimeRule = readonly string[];

const fact = (subject: string): KeyRule => ({ subject });
const once = (subject: string): KeyRule => ({ subject, named: true });
const each = (subject: string, version: string): KeyRule => ({ subject, named: true, version });

/** The business identity and the ordering time of every event type. README.md's table is this one, in words. */
export const EVENT_IDENTITY: { readonly [K in EventType]: { key: KeyRule; at: TimeRule } } = {
  'redemption.succeeded': { key: fact('redemption'), at: ['redemption.date', 'created_at'] },
  'redemption.failed': { key: fact('redemption'), at: ['redemption.date', 'created_at'] },
  'redemption.rollback.succeeded': { key: fact('redemption_rollback'), at: ['redemption_rollback.date'] },
  'redemption.rollback.failed': { key: fact('redemption_rollback'), at: ['redemption_rollback.date'] },
  'customer.redemption.succeeded': { key: fact('redemption'), at: ['redemption.date', 'created_at'] },
  'customer.redemption.rollback.succeeded': { key: fact('redemption_rollback'), at: ['redemption_rollback.date'] },

  'customer.created': { key: once('customer'), at: ['customer.created_at'] },
  'customer.updated': { key: each('customer', 'customer.updated_at'), at: ['customer.updated_at'] },
  'customer.deleted': { key: once('customer'), at: [] },
  'customer.custom_event': { key: fact('event'), at: ['event.created_at'] },
  'customer.holder.assignment.created': { key: once('holder'), at: ['holder.created_at'] },
  'customer.holder.assignment.deleted': { key: once('holder'), at: [] },

  'customer.loyalty.tier.joined': { key: 'event', at: ['created_at'] },
  'customer.loyalty.tier.left': { key: 'event', at: ['created_at'] },
  'customer.loyalty.tier.prolonged': { key: 'event', at: ['created_at'] },
  'customer.loyalty.tier.upgraded': { key: 'event', at: ['created_at'] },
  'customer.loyalty.tier.downgraded': { key: 'event', at: ['created_at'] },

  'customer.order.created': { key: once('order'), at: ['order.created_at'] },
  'customer.order.paid': { key: once('order'), at: ['order.updated_at', 'order.created_at'] },
  'customer.order.updated': { key: each('order', 'order.updated_at'), at: ['order.updated_at'] },
  'customer.order.canceled': { key: once('order'), at: ['order.updated_at'] },

  'customer.segment.entered': { key: 'event', at: [] },
  'customer.segment.left': { key: 'event', at: [] },

  'publication.succeeded': { key: fact('publication'), at: ['publication.created_at'] },
  'customer.publication.succeeded': { key: fact('publication'), at: ['publication.created_at'] },

  'voucher.created': { key: once('voucher'), at: ['voucher.created_at'] },
  'voucher.updated': { key: each('voucher', 'voucher.updated_at'), at: ['voucher.updated_at'] },
  'voucher.enabled': { key: each('voucher', 'voucher.updated_at'), at: ['voucher.updated_at'] },
  'voucher.disabled': { key: each('voucher', 'voucher.updated_at'), at: ['voucher.updated_at'] },
  'voucher.deleted': { key: once('voucher'), at: [] },
  'voucher.published': { key: fact('publication'), at: ['publication.created_at', 'created_at'] },
  'customer.voucher.gift.balance_added': { key: fact('transaction'), at: [] },
  'voucher.gift.balance_added': { key: fact('transaction'), at: [] },
  'voucher.gift.transaction.created': { key: fact('transaction'), at: [] },

  'customer.voucher.loyalty_card.points_added': { key: fact('transaction'), at: [] },
  'voucher.loyalty_card.points_added': { key: fact('transaction'), at: [] },
  'customer.voucher.loyalty_card.points_expired': { key: fact('transaction'), at: [] },
  'voucher.loyalty_card.points_expired': { key: fact('transaction'), at: [] },
  'customer.voucher.loyalty_card.pending_points.added': { key: once('pending_points'), at: ['pending_points.created_at'] },
  'voucher.loyalty_card.pending_points.added': { key: once('pending_points'), at: ['pending_points.created_at'] },
  'customer.voucher.loyalty_card.pending_points.canceled': { key: once('pending_points'), at: ['pending_points.updated_at'] },
  'voucher.loyalty_card.pending_points.canceled': { key: once('pending_points'), at: ['pending_points.updated_at'] },
  'customer.voucher.loyalty_card.pending_points.updated': {
    key: each('pending_points', 'pending_points.updated_at'),
    at: ['pending_points.updated_at'],
  },
  'voucher.loyalty_card.pending_points.updated': {
    key: each('pending_points', 'pending_points.updated_at'),
    at: ['pending_points.updated_at'],
  },
  // The distribution's form carries no transaction: keyed on the pending points in both forms, so twins stay one.
  'customer.voucher.loyalty_card.pending_points.activated': { key: once('pending_points'), at: ['pending_points.activates_at'] },
  'voucher.loyalty_card.pending_points.activated': { key: once('pending_points'), at: ['pending_points.activates_at'] },
  'voucher.loyalty_card.transaction.created': { key: fact('transaction'), at: [] },

  // The redemption that earned the reward is also redemption.succeeded's subject: the name keeps them two facts.
  'customer.rewarded': { key: once('redemption'), at: ['redemption.date'] },
  // One event (an order paid) may earn points under several earning rules: one fact each.
  'customer.rewarded.loyalty_points': { key: each('event', 'earning_rule.id'), at: ['event.created_at'] },
  'customer.reward_redemptions.created': { key: once('reward_redemption'), at: ['reward_redemption.created_at'] },
  'customer.reward_redemptions.pending': { key: once('reward_redemption'), at: ['reward_redemption.created_at'] },
  'customer.reward_redemptions.completed': {
    key: once('reward_redemption'),
    at: ['reward_redemption.updated_at', 'reward_redemption.created_at'],
  },

  'campaign.created': { key: once('campaign'), at: ['campaign.created_at', 'created_at'] },
  'campaign.updated': { key: each('campaign', 'campaign.updated_at'), at: ['campaign.updated_at'] },
  'campaign.enabled': { key: each('campaign', 'campaign.updated_at'), at: ['campaign.updated_at'] },
  'campaign.disabled': { key: each('campaign', 'campaign.updated_at'), at: ['campaign.updated_at'] },
  'campaign.deleted': { key: once('campaign'), at: ['deleted_at'] },
  'campaign.vouchers.generation.completed': { key: each('campaign', 'completed_at'), at: ['completed_at'] },
  'campaign.loyalty_tier.created': { key: once('loyalty_tier'), at: ['loyalty_tier.created_at'] },
  'campaign.loyalty_tier.updated': { key: each('loyalty_tier', 'loyalty_tier.updated_at'), at: ['loyalty_tier.updated_at'] },
  'campaign.loyalty_tier.deleted': { key: once('loyalty_tier'), at: [] },
  'campaign.promotion_tier.created': { key: once('promotion_tier'), at: ['promotion_tier.created_at'] },
  'campaign.promotion_tier.updated': { key: each('promotion_tier', 'promotion_tier.updated_at'), at: ['promotion_tier.updated_at'] },
  'campaign.promotion_tier.enabled': { key: each('promotion_tier', 'promotion_tier.updated_at'), at: ['promotion_tier.updated_at'] },
  'campaign.promotion_tier.disabled': { key: each('promotion_tier', 'promotion_tier.updated_at'), at: ['promotion_tier.updated_at'] },
  'campaign.promotion_tier.deleted': { key: once('promotion_tier'), at: [] },

  'business_validation_rule.created': { key: once('rule'), at: ['created_at', 'rule.created_at'] },
  'business_validation_rule.updated': { key: each('rule', 'updated_at'), at: ['updated_at'] },
  'business_validation_rule.deleted': { key: once('rule'), at: ['deleted_at'] },
  'business_validation_rule.assignment.created': { key: once('assignment'), at: ['assignment.created_at'] },
  'business_validation_rule.assignment.deleted': { key: once('assignment'), at: [] },

  // Sending the message is a happening of its own, next to the publication it may make.
  manual_distribution_schedule: { key: once('publication'), at: ['publication.created_at'] },
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function at(data: Record<string, unknown>, path: string): unknown {
  let node: unknown = data;
  for (const key of path.split('.')) node = isRecord(node) ? node[key] : undefined;
  return node;
}

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** The event name without the distribution's `customer.` prefix, so twins name the happening alike. */
const happeningOf = (type: string): string => (type.startsWith('customer.') ? type.slice('customer.'.length) : type);

/**
 * The business fact a delivery reports: what side effects are done once for.
 * One happening may reach us several times under different event ids (a
 * distribution's `customer.…` event and the project webhook's twin), so:
 * `data.transaction.id` where a transaction is sent; else the subject's id
 * (with the event name, and a version for happenings that repeat) as
 * `EVENT_IDENTITY` says; else, and for event types without a codec, the
 * event's id. Never throws.
 */
export function businessKeyOf(delivery: { data: unknown; event: EventMeta }): string {
  const data: unknown = delivery.data;
  if (!isRecord(data)) return delivery.event.id;
  const tx = nonEmpty(at(data, 'transaction.id'));
  if (tx) return tx;
  const type = delivery.event.type;
  if (!isKnownEventType(type)) return delivery.event.id;
  const rule = EVENT_IDENTITY[type].key;
  if (rule === 'event') return delivery.event.id;
  const id = nonEmpty(at(data, `${rule.subject}.id`));
  if (!id) return delivery.event.id;
  if (!rule.named) return id;
  if (!rule.version) return `${id}:${happeningOf(type)}`;
  const version = nonEmpty(at(data, rule.version));
  return version ? `${id}:${happeningOf(type)}@${version}` : delivery.event.id;
}

const dateOf = (v: unknown): Date | undefined => {
  if (typeof v !== 'string') return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
};

/**
 * When the reported change happened: the transaction's `created_at`, else the
 * first date `EVENT_IDENTITY` names for the type, else the event's
 * `created_at`. Events arrive out of order; a handler writing state compares
 * these. Never throws.
 */
export function occurredAtOf(delivery: { data: unknown; event: EventMeta }): Date {
  const data: unknown = delivery.data;
  if (isRecord(data)) {
    const paths = ['transaction.created_at', ...(isKnownEventType(delivery.event.type) ? EVENT_IDENTITY[delivery.event.type].at : [])];
    for (const path of paths) {
      const d = dateOf(at(data, path));
      if (d) return d;
    }
  }
  return new Date(delivery.event.created_at);
}
