import * as t from 'io-ts';
import { IntFromString, NonEmptyString, UrlString, type ConfigOf, type EnvSpec } from '@vouchflow/core';
import { CRM_PROPERTY_DEFAULTS, type CrmPropertyKey } from './crm/properties.js';

const crmKeys = Object.keys(CRM_PROPERTY_DEFAULTS) as CrmPropertyKey[];

/** `balance=loyalty_points,card_code=loyalty_card`: renames of the CRM properties the `crm` handler writes. */
export const CrmPropertyRenames = new t.Type<Partial<Record<CrmPropertyKey, string>>, string, unknown>(
  'CrmPropertyRenames',
  (u): u is Partial<Record<CrmPropertyKey, string>> => typeof u === 'object' && u !== null,
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c, 'expected key=property pairs, comma-separated');
    const out: Partial<Record<CrmPropertyKey, string>> = {};
    for (const pair of u
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [key, value, ...rest] = pair.split('=').map((s) => s.trim());
      if (!key || !value || rest.length > 0) return t.failure(u, c, `expected key=property, got "${pair}"`);
      if (!(crmKeys as string[]).includes(key)) return t.failure(u, c, `unknown key "${key}"; known: ${crmKeys.join(', ')}`);
      if (!/^[a-z][a-z0-9_]*$/.test(value))
        return t.failure(u, c, `"${value}" is not a HubSpot internal property name (lowercase, digits, _)`);
      out[key as CrmPropertyKey] = value;
    }
    return t.success(out);
  },
  (a) =>
    Object.entries(a)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
);

/**
 * The environment variables of the built-in handlers. The worker's config.ts
 * spreads this into its own spec, so they are decoded once with the rest.
 */
export const handlersEnv = {
  // --- email ---
  /** smtp:// or smtps:// with credentials; messages go out over a pool of connections. Unset: .eml files in OUTBOX_DIR. */
  SMTP_URL: { codec: UrlString('SmtpUrl', ['smtp', 'smtps']), secret: true },
  /** The From header of every message. */
  EMAIL_FROM: { codec: NonEmptyString, default: 'Loyalty <loyalty@example.com>' },
  /** Where messages are written as .eml files while SMTP_URL is unset. */
  OUTBOX_DIR: { codec: NonEmptyString, default: './outbox' },
  /** A directory whose files replace the built-in templates (see docs/handlers.md). Unset: the built-ins. */
  EMAIL_TEMPLATES_DIR: { codec: NonEmptyString },
  /** The Voucherify API, to look up a customer's address when the event lacks it. */
  VOUCHERIFY_API_URL: { codec: UrlString('VoucherifyApiUrl', ['http', 'https']), default: 'https://api.voucherify.io' },
  VOUCHERIFY_APP_ID: { codec: NonEmptyString },
  VOUCHERIFY_SECRET_KEY: { codec: NonEmptyString, secret: true },
  /** How long a looked-up address (or its absence) is kept in Redis, in seconds. */
  CUSTOMER_CACHE_SECONDS: { codec: IntFromString('CustomerCacheSeconds', 0, 7 * 24 * 3600), default: '900' },
  // --- crm ---
  /** HubSpot API base URL. */
  CRM_URL: { codec: UrlString('CrmUrl', ['http', 'https']), default: 'https://api.hubapi.com' },
  /** A HubSpot private app token (scope crm.objects.contacts.write). Set: the `crm` handler runs by default. */
  CRM_TOKEN: { codec: NonEmptyString, secret: true },
  /** The unique contact property holding the Voucherify customer id. */
  CRM_ID_PROPERTY: { codec: NonEmptyString, default: 'voucherify_customer_id' },
  /** Renames of the written properties, `key=property` comma-separated. Keys: see CRM_PROPERTY_DEFAULTS. */
  CRM_PROPERTIES: { codec: CrmPropertyRenames, default: '' },
} satisfies EnvSpec;

export type HandlersConfig = ConfigOf<typeof handlersEnv>;
