import { isIP } from 'node:net';
import * as t from 'io-ts';
import {
  CommaList,
  ConfigError,
  NonEmptyString,
  PortFromString,
  SECOND,
  alertEnv,
  archiveEnv,
  commonEnv,
  decodeEnv,
  type ConfigOf,
} from '@vouchflow/core';
import { DurationFromString } from './duration.js';

/** Shorter tokens could be guessed through the login form; 32 hex characters is 128 bits. */
export const MIN_TOKEN_LENGTH = 16;
/** What production asks for: `openssl rand -hex 16` or longer. */
export const MIN_PRODUCTION_TOKEN_LENGTH = 32;

const AdminToken = new t.Type<string, string, unknown>(
  'AdminToken',
  (u): u is string => typeof u === 'string' && u.length >= MIN_TOKEN_LENGTH,
  (u, c) =>
    typeof u === 'string' && u.trim().length >= MIN_TOKEN_LENGTH
      ? t.success(u.trim())
      : t.failure(u, c, `expected at least ${MIN_TOKEN_LENGTH} characters (generate one with \`openssl rand -hex 32\`)`),
  String,
);

const PROXY_KEYWORDS = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * TRUST_PROXY: `false` (the default: X-Forwarded-* are ignored), or the proxies to believe,
 * comma-separated: addresses, subnets (`10.0.0.0/8`) or `loopback`, `linklocal`, `uniquelocal`.
 */
export const TrustProxy = new t.Type<false | string[], string, unknown>(
  'TrustProxy',
  (u): u is false | string[] => u === false || Array.isArray(u),
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c, 'expected false or a list of proxy addresses');
    const value = u.trim().toLowerCase();
    if (value === 'false' || value === 'no' || value === '0') return t.success(false);
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      const [address, bits, ...rest] = item.split('/');
      const ipVersion = isIP(address ?? '');
      const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (ipVersion === 6 ? 128 : 32));
      if (!PROXY_KEYWORDS.includes(item) && (ipVersion === 0 || !okBits || rest.length > 0)) {
        return t.failure(u, c, `expected false, or proxy addresses, subnets, loopback, linklocal, uniquelocal; got "${item}"`);
      }
    }
    if (items.length === 0) return t.failure(u, c, 'expected false or at least one proxy address');
    return t.success(items);
  },
  (a) => (a === false ? 'false' : a.join(',')),
);

/** What `pnpm ops` reads: the same Redis and prefix as the apps it inspects. */
export const cliEnv = { ...commonEnv, ...archiveEnv };
export type CliConfig = ConfigOf<typeof cliEnv>;

/** What the admin API (`pnpm start:admin`, i.e. `pnpm ops serve`) reads. */
export const adminEnv = {
  ...commonEnv,
  ...archiveEnv,
  /** Bearer token of the admin API and password of the dashboard login. Required: without it the admin API does not start. */
  ADMIN_TOKEN: { codec: AdminToken, secret: true },
  /** HTTP port of the admin API and dashboard. */
  ADMIN_PORT: { codec: PortFromString, default: '3100' },
  /** Interface to listen on. Loopback by default: put a TLS-terminating proxy in front before exposing it. */
  ADMIN_HOST: { codec: NonEmptyString, default: '127.0.0.1' },
  /** Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: `false`, or addresses, subnets, `loopback`. */
  TRUST_PROXY: { codec: TrustProxy, default: 'false' },
  /** Host names requests may carry (DNS-rebinding defence), comma-separated. Add the proxy's public name when exposing it. */
  ADMIN_ALLOWED_HOSTS: { codec: CommaList, default: 'localhost,127.0.0.1,[::1]' },
  /** Told when dead letters appear (see alertEnv). */
  ...alertEnv,
  /** At most one alert per this interval (`30s`, `15m`, `1h`); new dead letters in between are summed into the next one. */
  ALERT_INTERVAL: { codec: DurationFromString('AlertInterval', SECOND), default: '15m' },
};
export type AdminConfig = ConfigOf<typeof adminEnv> & { ADMIN_TOKEN: string };

/** Decodes the CLI's settings once. */
export const loadCliConfig = (env: Record<string, string | undefined>): CliConfig => decodeEnv(cliEnv, env);

/** Decodes the admin API's settings once. Fails closed: no ADMIN_TOKEN, no admin API. */
export function loadAdminConfig(env: Record<string, string | undefined>): AdminConfig {
  const config = decodeEnv(adminEnv, env);
  if (config.ADMIN_TOKEN === undefined) {
    throw new ConfigError([
      'ADMIN_TOKEN: required: the admin API and dashboard do not start without a token (generate one with `openssl rand -hex 32`)',
    ]);
  }
  if (config.NODE_ENV === 'production' && config.ADMIN_TOKEN.length < MIN_PRODUCTION_TOKEN_LENGTH) {
    throw new ConfigError([
      `ADMIN_TOKEN: shorter than ${MIN_PRODUCTION_TOKEN_LENGTH} characters, refused with NODE_ENV=production (generate one with \`openssl rand -hex 32\`)`,
    ]);
  }
  return { ...config, ADMIN_TOKEN: config.ADMIN_TOKEN };
}
