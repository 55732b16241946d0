import { Counter, Registry } from 'prom-client';
import type { AnyHandler } from '@vouchflow/handler-kit';
import type { Logger, RedisClient } from '@vouchflow/core';
import { logHandler } from './log.js';
import { handlersEnv, type HandlersConfig } from './env.js';
import { createEmailHandler } from './email/email-handler.js';
import { createCustomerLookup } from './email/customer-lookup.js';
import { createOutboxSender, createSmtpSender } from './email/mail-sender.js';
import { loadTemplates } from './email/templates.js';
import { createCrmHandler } from './crm/crm-handler.js';

export { logHandler, handlersEnv, type HandlersConfig };
export { createEmailHandler, templateKindOf, type EmailHandlerOptions, type EmailSkipReason } from './email/email-handler.js';
export { plainAddress, headerValue, ADDRESS_REFUSALS, type AddressRefusal, type AddressCheck } from './email/address.js';
export { createCustomerLookup, type CustomerLookup, type CustomerLookupOptions, type LookupResult } from './email/customer-lookup.js';
export { createSmtpSender, createOutboxSender, type MailSender, type OutgoingMail } from './email/mail-sender.js';
export {
  loadTemplates,
  render,
  escapeHtml,
  DEFAULT_TEMPLATES,
  TEMPLATE_KINDS,
  TEMPLATE_VALUES,
  TemplateError,
  type TemplateSet,
} from './email/templates.js';
export { createCrmHandler, type CrmHandlerOptions } from './crm/crm-handler.js';
export { upsertContacts, type ContactUpsert, type HubSpotSettings } from './crm/hubspot-client.js';
export { CRM_PROPERTY_DEFAULTS, type CrmPropertyKey } from './crm/properties.js';
export { BALANCE_EVENT_NAMES, EMAIL_EVENT_NAMES } from './event-names.js';
export { loyaltyFacts, type LoyaltyFacts } from './loyalty-facts.js';
export { DownstreamError } from './http/downstream-error.js';

export interface BuiltInDeps {
  /** The decoded settings; the worker passes its whole config, of which `NODE_ENV` is read too. */
  config: HandlersConfig & { NODE_ENV?: string };
  /** For caches and ordering records; owned by the worker. */
  redis: RedisClient;
  queuePrefix: string;
  logger: Logger;
}

export interface BuiltIns {
  /** Every built-in by the name `HANDLERS` uses. */
  all: Record<string, AnyHandler>;
  /** The names that run when `HANDLERS` is unset. */
  defaults: string[];
  /** Built-ins that exist but lack settings, with what to set: named in HANDLERS, they stop the worker with this. */
  unavailable: Record<string, string>;
  /** The built-ins' own Prometheus metrics (`vouchflow_email_skipped_total{reason}`), to serve next to the worker's. */
  registry: Registry;
  /** Releases what the built-ins hold (the SMTP connection pool). Call after the worker closed. */
  close(): Promise<void>;
}

/**
 * Builds the built-in handlers from the decoded settings.
 * - `email`: always available; without SMTP_URL it writes .eml files to
 *   OUTBOX_DIR, which is what makes a first `pnpm start` show output. A
 *   default, except in production without SMTP_URL.
 * - `crm`: available and a default only with CRM_TOKEN.
 * - `log`: a line per event; a default outside production only (it adds
 *   nothing but log volume there; name it in HANDLERS to keep it).
 */
export function createBuiltInHandlers(deps: BuiltInDeps): BuiltIns {
  const { config, redis, queuePrefix, logger } = deps;
  const sender = config.SMTP_URL ? createSmtpSender(config.SMTP_URL) : createOutboxSender(config.OUTBOX_DIR);
  const registry = new Registry();
  const emailSkipped = new Counter({
    name: 'vouchflow_email_skipped_total',
    help: 'Messages the email handler did not send, by reason (no address, or an address the address rule refused)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const email = createEmailHandler({
    onSkipped: (reason) => emailSkipped.inc({ reason }),
    from: config.EMAIL_FROM,
    sender,
    templates: loadTemplates(config.EMAIL_TEMPLATES_DIR),
    lookup: createCustomerLookup({
      apiUrl: config.VOUCHERIFY_API_URL,
      appId: config.VOUCHERIFY_APP_ID,
      secretKey: config.VOUCHERIFY_SECRET_KEY,
      redis,
      queuePrefix,
      cacheSeconds: config.CUSTOMER_CACHE_SECONDS,
    }),
  });
  const all: Record<string, AnyHandler> = { email, log: logHandler };
  const production = config.NODE_ENV === 'production';
  // In production an outbox on local disk is not delivery: `email` is a default only with SMTP_URL there.
  const defaults = config.SMTP_URL || !production ? ['email'] : [];
  if (production && !config.SMTP_URL) {
    logger.warn('SMTP_URL is unset: `email` is not run by default; named in HANDLERS it writes .eml files to OUTBOX_DIR', {
      outbox: config.OUTBOX_DIR,
    });
  }
  const unavailable: Record<string, string> = {};
  if (!production) defaults.push('log');
  if (config.CRM_TOKEN) {
    all['crm'] = createCrmHandler({
      baseUrl: config.CRM_URL,
      token: config.CRM_TOKEN,
      idProperty: config.CRM_ID_PROPERTY,
      propertyNames: config.CRM_PROPERTIES,
      redis,
      queuePrefix,
    });
    defaults.push('crm');
  } else {
    unavailable['crm'] = 'set CRM_TOKEN (a HubSpot private app token) to use it';
  }
  logger.debug('built-in handlers', { available: Object.keys(all), defaults, email: sender.describe });
  return { all, defaults, unavailable, registry, close: () => sender.close() };
}
