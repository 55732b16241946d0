import { defineHandler, type Handler } from '@vouchflow/handler-kit';
import { SECOND, type RedisClient } from '@vouchflow/core';
import { BALANCE_EVENT_NAMES } from '../event-names.js';
import { loyaltyFacts, type LoyaltyFacts } from '../loyalty-facts.js';
import { readContact, upsertContacts } from './hubspot-client.js';
import { createCustomerOrdering } from './ordering.js';
import { CRM_PROPERTY_DEFAULTS, type CrmPropertyKey } from './properties.js';

export interface CrmHandlerOptions {
  /** HubSpot API base URL. @defaultValue https://api.hubapi.com */
  baseUrl: string;
  /** HubSpot private app token. */
  token: string;
  /** The unique contact property that holds the Voucherify customer id. @defaultValue voucherify_customer_id */
  idProperty: string;
  /** Renames of the written properties. @defaultValue none: CRM_PROPERTY_DEFAULTS */
  propertyNames?: Partial<Record<CrmPropertyKey, string>>;
  /** For the per-customer ordering record and lock. */
  redis: RedisClient;
  queuePrefix: string;
  /** @defaultValue 'crm' */
  name?: string;
}

const TIMEOUT = 20 * SECOND;
// Longer than a run may take, so a run that honours its signal never outlives its lock.
const LOCK = TIMEOUT + 5 * SECOND;

/*
 * One upsert call per event. Coalescing concurrent jobs into one batch call
 * (HubSpot takes 100 inputs) was considered and left out: at this project's
 * volumes the binding limit is HubSpot's per-10-second request budget, which
 * `rateLimit` already respects, and a batch would make one contact's 4XX fail
 * (or need splitting out of) the others' jobs, and couple the per-customer
 * ordering record to a shared flush. Revisit if the request budget is ever
 * the bottleneck.
 */

/** The contact properties one change writes, by their HubSpot names. Values are strings; absent facts are not written. */
function propertiesOf(facts: LoyaltyFacts, occurredAt: Date, names: Record<CrmPropertyKey, string>): Record<string, string> {
  const values: Record<CrmPropertyKey, string | undefined> = {
    balance: facts.balance?.toString(),
    total: facts.total?.toString(),
    card_code: facts.cardCode,
    last_transaction_type: facts.transactionType,
    last_transaction_at: occurredAt.toISOString(),
    last_points_change: facts.pointsChange?.toString(),
  };
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) properties[names[key as CrmPropertyKey]] = value;
  return properties;
}

/**
 * Upserts the customer's HubSpot contact with the loyalty balance after each
 * balance change, never letting an older event overwrite a newer balance.
 */
export function createCrmHandler(options: CrmHandlerOptions): Handler<(typeof BALANCE_EVENT_NAMES)[number]> {
  const names = { ...CRM_PROPERTY_DEFAULTS, ...options.propertyNames };
  const ordering = createCustomerOrdering(options.redis, options.queuePrefix, options.name ?? 'crm');
  const hubspot = { baseUrl: options.baseUrl, token: options.token };
  return defineHandler({
    name: options.name ?? 'crm',
    events: BALANCE_EVENT_NAMES,
    timeoutMs: TIMEOUT,
    // HubSpot private apps get 100–190 requests per 10 s; stay under it across workers.
    rateLimit: { max: 90, durationMs: 10 * SECOND },
    async handle(event, ctx) {
      const facts = loyaltyFacts(event);
      const customerId = facts.customerId;
      if (!customerId) return { skipped: 'the event names no customer' };
      const occurredAt = ctx.occurredAt.getTime();

      return ordering.withLock(customerId, LOCK, ctx.signal, async () => {
        const last = await ordering.lastApplied(customerId);
        if (last !== undefined && last > occurredAt) {
          const skipped = `older than the change already applied (${new Date(occurredAt).toISOString()} < ${new Date(last).toISOString()})`;
          ctx.logger.debug('crm update skipped', { customerId, last: new Date(last).toISOString() });
          return { skipped };
        }
        const properties = propertiesOf(facts, ctx.occurredAt, names);
        await upsertContacts(hubspot, [{ idProperty: options.idProperty, id: customerId, properties }], ctx.signal);
        await ordering.recordApplied(customerId, occurredAt);
        ctx.logger.info('crm contact upserted', { customerId, balance: facts.balance });
      });
    },

    /*
     * The run in doubt died after HubSpot took the upsert, or before. The
     * ordering record cannot tell: it is written after HubSpot's answer, so a
     * run that died in between left none. The contact itself can: it is
     * read back, and only when it holds every value this change writes is the
     * effect there. Anything else (no contact, another value, a property
     * HubSpot stores in another form) is false, and the upsert, idempotent,
     * runs again. Under the customer's lock, like `handle`, so no other
     * change of this customer lands between the read and the record.
     */
    async wasDone(event, ctx) {
      const facts = loyaltyFacts(event);
      const customerId = facts.customerId;
      if (!customerId) return false;
      const occurredAt = ctx.occurredAt.getTime();

      return ordering.withLock(customerId, LOCK, ctx.signal, async () => {
        // A newer change is applied: `handle` skips this one without calling HubSpot.
        const last = await ordering.lastApplied(customerId);
        if (last !== undefined && last > occurredAt) return false;
        const properties = propertiesOf(facts, ctx.occurredAt, names);
        const held = await readContact(
          hubspot,
          { idProperty: options.idProperty, id: customerId, properties: Object.keys(properties) },
          ctx.signal,
        );
        const there = held !== undefined && Object.entries(properties).every(([name, value]) => held[name] === value);
        // What the run that died would have recorded next: without it an older event could still overwrite this change.
        if (there) await ordering.recordApplied(customerId, occurredAt);
        ctx.logger.debug('crm contact read back', { customerId, found: held !== undefined, upToDate: there });
        return there;
      });
    },
  });
}
