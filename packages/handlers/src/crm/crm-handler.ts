import { defineHandler, type Handler } from '@vouchflow/handler-kit';
import { SECOND, type RedisClient } from '@vouchflow/core';
import { BALANCE_EVENT_NAMES } from '../event-names.js';
import { loyaltyFacts } from '../loyalty-facts.js';
import { upsertContacts } from './hubspot-client.js';
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

/*
 * One upsert call per event. Coalescing concurrent jobs into one batch call
 * (HubSpot takes 100 inputs) was considered and left out: at this project's
 * volumes the binding limit is HubSpot's per-10-second request budget, which
 * `rateLimit` already respects, and a batch would make one contact's 4XX fail
 * (or need splitting out of) the others' jobs, and couple the per-customer
 * ordering record to a shared flush. Revisit if the request budget is ever
 * the bottleneck.
 */

/**
 * Upserts the customer's HubSpot contact with the loyalty balance after each
 * balance change, never letting an older event overwrite a newer balance.
 */
export function createCrmHandler(options: CrmHandlerOptions): Handler<(typeof BALANCE_EVENT_NAMES)[number]> {
  const names = { ...CRM_PROPERTY_DEFAULTS, ...options.propertyNames };
  const ordering = createCustomerOrdering(options.redis, options.queuePrefix, options.name ?? 'crm');
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

      return ordering.withLock(customerId, TIMEOUT + 5 * SECOND, ctx.signal, async () => {
        const last = await ordering.lastApplied(customerId);
        if (last !== undefined && last > occurredAt) {
          const skipped = `older than the change already applied (${new Date(occurredAt).toISOString()} < ${new Date(last).toISOString()})`;
          ctx.logger.debug('crm update skipped', { customerId, last: new Date(last).toISOString() });
          return { skipped };
        }
        const values: Record<CrmPropertyKey, string | undefined> = {
          balance: facts.balance?.toString(),
          total: facts.total?.toString(),
          card_code: facts.cardCode,
          last_transaction_type: facts.transactionType,
          last_transaction_at: ctx.occurredAt.toISOString(),
          last_points_change: facts.pointsChange?.toString(),
        };
        const properties: Record<string, string> = {};
        for (const [key, value] of Object.entries(values)) if (value !== undefined) properties[names[key as CrmPropertyKey]] = value;

        await upsertContacts(
          { baseUrl: options.baseUrl, token: options.token },
          [{ idProperty: options.idProperty, id: customerId, properties }],
          ctx.signal,
        );
        await ordering.recordApplied(customerId, occurredAt);
        ctx.logger.info('crm contact upserted', { customerId, balance: facts.balance });
      });
    },
  });
}
