/*
 * What Voucherify's own OpenAPI description says it sends (fixtures/spec,
 * made by scripts/spec-fixtures.ts), and what real deliveries also look like
 * (`realisticVariants`), decoded. The issue that started this: 10 of 123
 * realistic deliveries built from the spec were dead-lettered, and 50 of its
 * 72 types never reached a handler.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import type * as t from 'io-ts';
import { isLeft, isRight } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  businessKeyOf,
  decodeDelivery,
  driftOf,
  EVENT_DATA,
  EVENT_GROUPS,
  EVENT_TYPES,
  isEventOf,
  occurredAtOf,
  type EventType,
  type WebhookEvent,
} from '../src/index.js';
import { realisticDeliveries, realisticVariants, specDeliveries } from '../src/testing/index.js';
import { eventTable } from '../scripts/event-table.js';
import { arbitraryOf } from './codec-arbitrary.js';
import { clone, type Loose } from './fixtures.js';

function decodeKnown(json: unknown): WebhookEvent {
  const result = decodeDelivery(json);
  if (isLeft(result)) throw new Error(result.left.problems.join('\n'));
  if (!result.right.known) throw new Error('decoded as an unknown event');
  return result.right.event;
}

const spec = (type: string): Loose => {
  const found = specDeliveries().find((d) => d.name === type);
  if (!found) throw new Error(`no spec example for ${type}`);
  return found.delivery as Loose;
};

describe("the spec's examples", () => {
  it('are 72, one per webhook type, in the twelve groups of the spec', () => {
    expect(specDeliveries()).toHaveLength(72);
    expect(EVENT_TYPES).toHaveLength(72);
    expect(Object.keys(EVENT_GROUPS)).toHaveLength(12);
    expect(Object.values(EVENT_GROUPS).reduce((n, g) => n + Object.keys(g).length, 0)).toBe(72);
  });

  it.each(specDeliveries().map((d) => [d.name, d.delivery] as const))('%s decodes as its known type, with no drift', (name, delivery) => {
    expect(decodeKnown(delivery).event.type).toBe(name);
    expect(driftOf(delivery)).toEqual([]);
  });
});

describe('realistic variants', () => {
  const all = realisticDeliveries();

  it('cover every type, several variants each', () => {
    const types = new Set(all.map((d) => (d.delivery['event'] as { type: string }).type));
    expect(types.size).toBe(72);
    const kinds = new Set(all.map((d) => d.variant));
    expect([...kinds].sort()).toEqual(['dates', 'example', 'extras', 'gaps', 'gift-card', 'nulls', 'referral-card', 'thin-parties']);
    expect(new Set(all.map((d) => (d.delivery['event'] as { id: string }).id)).size).toBe(all.length);
    console.log(`[schema-figures] realistic deliveries: ${all.length} (${types.size} types, ${kinds.size} kinds)`);
  });

  it.each(all.filter((d) => d.variant !== 'example').map((d) => [(d.delivery['event'] as { id: string }).id, d] as const))(
    '%s decodes as its known type',
    (_id, { variant, delivery }) => {
      const type = (delivery['event'] as { type: string }).type;
      expect(decodeKnown(delivery).event.type).toBe(type);
      const drift = driftOf(delivery);
      if (variant === 'extras') {
        expect(drift.length).toBeGreaterThan(0);
        for (const path of drift) expect(path).toMatch(/(^|\.)zz_added_by_voucherify$/);
      } else expect(drift).toEqual([]);
    },
  );

  it('change what they say they change', () => {
    const [thin] = realisticVariants(spec('customer.voucher.loyalty_card.points_added')).filter((v) => v.variant === 'thin-parties');
    expect((thin!.delivery as Loose)['data'].customer).toEqual({ id: 'cust_2p0TvCOvB25HWUrW9JFf4czJ', object: 'customer' });
    expect((thin!.delivery as Loose)['event'].event_source.user).toBeNull();
    const [gaps] = realisticVariants(spec('voucher.loyalty_card.points_added')).filter((v) => v.variant === 'gaps');
    expect(Object.keys((gaps!.delivery as Loose)['data']).sort()).toEqual(['balance']);
  });
});

describe('the failures the issue found, each decoding now', () => {
  it('voucher.loyalty_card.points_added and voucher.gift.balance_added: the trimmed transaction', () => {
    for (const type of ['voucher.loyalty_card.points_added', 'voucher.gift.balance_added'] as const) {
      const delivery = spec(type);
      expect(Object.keys(delivery['data'].transaction).sort()).toEqual(['campaign_id', 'created_at', 'details', 'id', 'type']);
      const event = decodeKnown(delivery);
      if (!isEventOf(event, type)) throw new Error(event.event.type);
      expect(event.data.transaction?.id).toMatch(/^vtx_/);
      expect(businessKeyOf(event)).toBe(event.data.transaction?.id);
    }
  });

  it('voucher.loyalty_card.points_added without customer', () => {
    const delivery = spec('voucher.loyalty_card.points_added');
    delete delivery['data'].customer;
    expect(decodeKnown(delivery).event.type).toBe('voucher.loyalty_card.points_added');
  });

  it('pending_points.activated in the schema form and the distribution form, both names', () => {
    const project = spec('voucher.loyalty_card.pending_points.activated');
    const distribution = spec('customer.voucher.loyalty_card.pending_points.activated');
    expect(project['data']).toHaveProperty('transaction');
    expect(project['data']).not.toHaveProperty('voucher_pending_points_balance');
    expect(distribution['data']).toHaveProperty('voucher_pending_points_balance');
    expect(distribution['data']).not.toHaveProperty('balance');
    for (const form of [project, distribution])
      for (const type of ['voucher.loyalty_card.pending_points.activated', 'customer.voucher.loyalty_card.pending_points.activated']) {
        const delivery = clone(form);
        delivery['event'].type = type;
        expect(decodeKnown(delivery).event.type).toBe(type);
      }
  });

  it('customer.reward_redemptions.*: a balance of only {amount}', () => {
    for (const type of ['created', 'pending', 'completed']) {
      const delivery = spec(`customer.reward_redemptions.${type}`);
      delivery['data'].balance = { amount: 1500 };
      expect(decodeKnown(delivery).event.type).toBe(`customer.reward_redemptions.${type}`);
    }
  });

  it('customer.rewarded.loyalty_points: a balance without type and points', () => {
    const delivery = spec('customer.rewarded.loyalty_points');
    delete delivery['data'].balance.type;
    delete delivery['data'].balance.points;
    expect(decodeKnown(delivery).event.type).toBe('customer.rewarded.loyalty_points');
  });

  it.each(specDeliveries().map((d) => [d.name, d.delivery] as const))('%s with event_source.user null', (_name, delivery) => {
    const changed = clone(delivery as Loose);
    changed['event'].event_source.user = null;
    expect(isRight(decodeDelivery(changed))).toBe(true);
  });
});

describe('what is still refused, with a reason', () => {
  it('custom data under a known type names what it lacks', () => {
    const delivery = spec('customer.order.paid');
    delivery['data'] = { order_number: 'A-1001', paid: true };
    const result = decodeDelivery(delivery);
    expect(isLeft(result) && result.left.kind).toBe('invalid-data');
    expect(isLeft(result) && result.left.problems).toEqual(['data.order: expected Order, got nothing']);
  });

  it("a subject without its id (the once-only key) is refused, for every type's subjects", () => {
    for (const { name, delivery } of specDeliveries()) {
      const data = (delivery as Loose)['data'];
      const subject = Object.keys(data).find((k) => typeof data[k]?.id === 'string' && !isRight(decodeWithout(delivery, k)));
      if (!subject) continue;
      const result = decodeWithout(delivery, subject);
      expect(isLeft(result) && result.left.problems.join('\n'), name).toMatch(
        new RegExp(`^data\\.${subject}\\.id: expected string, got nothing`, 'm'),
      );
    }
  });
});

/** The delivery with `data[key].id` removed. */
function decodeWithout(delivery: Record<string, unknown>, key: string) {
  const changed = clone(delivery as Loose);
  delete changed['data'][key].id;
  return decodeDelivery(changed);
}

describe('once-only keys and ordering times', () => {
  it('a distribution event and its project-webhook twin share one key, whatever their event ids', () => {
    const twins = EVENT_TYPES.filter((type) => type.startsWith('customer.') && Object.hasOwn(EVENT_DATA, type.slice('customer.'.length)));
    expect(twins.length).toBeGreaterThanOrEqual(9);
    for (const type of twins) {
      const distribution = spec(type);
      const project = clone(distribution);
      project['event'] = { ...project['event'], id: `${project['event'].id}-twin`, type: type.slice('customer.'.length) };
      const a = decodeKnown(distribution);
      const b = decodeKnown(project);
      expect(businessKeyOf(b), type).toBe(businessKeyOf(a));
      expect(businessKeyOf(a), type).not.toBe(a.event.id);
    }
  });

  it('a reward earned by a redemption is a fact apart from the redemption itself', () => {
    const redeemed = spec('redemption.succeeded');
    const rewarded = spec('customer.rewarded');
    rewarded['data'].redemption.id = redeemed['data'].redemption.id;
    const twin = clone(redeemed);
    twin['event'] = { ...twin['event'], id: 'evcus_twin', type: 'customer.redemption.succeeded' };
    expect(businessKeyOf(decodeKnown(twin))).toBe(businessKeyOf(decodeKnown(redeemed)));
    expect(businessKeyOf(decodeKnown(rewarded))).not.toBe(businessKeyOf(decodeKnown(redeemed)));
  });

  it('pending points: added, updated and canceled of the same pending points are different facts', () => {
    const keys = ['added', 'updated', 'canceled'].map((what) => {
      const d = spec('customer.voucher.loyalty_card.pending_points.added');
      d['event'].type = `customer.voucher.loyalty_card.pending_points.${what}`;
      return businessKeyOf(decodeKnown(d));
    });
    expect(new Set(keys).size).toBe(3);
    expect(keys[0]).toBe(
      `${spec('customer.voucher.loyalty_card.pending_points.added')['data'].pending_points.id}:voucher.loyalty_card.pending_points.added`,
    );
  });

  it('a happening that repeats on one object is told apart by its version, else by the event id', () => {
    const first = spec('customer.updated');
    const second = clone(first);
    second['event'].id = 'evprj_second';
    second['data'].customer.updated_at = '2030-01-01T00:00:00.000Z';
    expect(businessKeyOf(decodeKnown(first))).not.toBe(businessKeyOf(decodeKnown(second)));
    delete second['data'].customer.updated_at;
    expect(businessKeyOf(decodeKnown(second))).toBe('evprj_second');
  });

  it.each(specDeliveries().map((d) => [d.name, d.delivery] as const))('%s: a key and a valid ordering time', (_name, delivery) => {
    const event = decodeKnown(delivery);
    expect(businessKeyOf(event)).toMatch(/\S/);
    const at = occurredAtOf(event);
    expect(Number.isNaN(at.getTime())).toBe(false);
    const tx = (event.data as { transaction?: { created_at?: string } | null }).transaction;
    if (tx?.created_at) expect(at.toISOString()).toBe(new Date(tx.created_at).toISOString());
  });

  it('unknown types are keyed by their event id', () => {
    const delivery = spec('customer.created');
    delivery['event'].type = 'customer.referred';
    expect(businessKeyOf(delivery as never)).toBe(delivery['event'].id);
  });
});

describe('README.md', () => {
  it('has the table of every type, as scripts/event-table.ts makes it from the codecs', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');
    const table = /<!-- event-table:start -->\n([\s\S]*?)\n<!-- event-table:end -->/.exec(readme)?.[1];
    expect(table).toBe(eventTable());
    for (const type of EVENT_TYPES) expect(table).toContain(`| \`${type}\` |`);
  });
});

describe('deliveries built from each codec', () => {
  const envelope = spec('customer.created');
  it.each(EVENT_TYPES.map((type) => [type] as const))('%s: whatever the codec admits decodes, with no drift', (type: EventType) => {
    const data = arbitraryOf(EVENT_DATA[type] as t.Mixed);
    fc.assert(
      fc.property(data, (d) => {
        const delivery = { ...envelope, data: d, event: { ...envelope['event'], type } };
        const result = decodeDelivery(delivery);
        expect(isRight(result) && result.right.known).toBe(true);
        expect(driftOf(delivery)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});
