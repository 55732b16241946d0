import { coerceError, projectKey, SECOND, type RedisClient } from '@vouchflow/core';
import { PermanentError, RetryLaterError } from '@vouchflow/handler-kit';
import { DownstreamError } from '../http/downstream-error.js';
import { readErrorMessage } from '../http/read-message.js';
import { retryAfterMs } from '../http/retry-after.js';
import { apiUrl } from '../http/api-url.js';

export interface CustomerLookupOptions {
  /** @defaultValue https://api.voucherify.io (VOUCHERIFY_API_URL) */
  apiUrl: string;
  /** Both unset: no lookups; events without an address are skipped with that reason. */
  appId?: string;
  secretKey?: string;
  redis: RedisClient;
  queuePrefix: string;
  /** How long an answer (an address or its absence) is reused. 0: never cached. @defaultValue 900 (CUSTOMER_CACHE_SECONDS) */
  cacheSeconds: number;
}

/** An address, or why there is none. */
export type LookupResult = { email: string } | { email?: undefined; reason: string };

/** Finds a customer's e-mail address through the Voucherify API. */
export type CustomerLookup = (customerId: string, signal: AbortSignal) => Promise<LookupResult>;

const NOT_CONFIGURED =
  'the event carries no e-mail address and the Voucherify API is not configured (set VOUCHERIFY_APP_ID and VOUCHERIFY_SECRET_KEY to look customers up)';

/**
 * `GET {apiUrl}/v1/customers/{id}` (the base URL's own path kept) with `X-App-Id` / `X-App-Token`, the answer
 * cached in Redis so a burst of events for one customer costs one call.
 * 404 or no address → a reason (the run is skipped); 401/403 → permanent (the
 * credentials are wrong; replay once fixed); 429 → retry later; 5XX → retry.
 */
export function createCustomerLookup(options: CustomerLookupOptions): CustomerLookup {
  const { appId, secretKey, redis, queuePrefix, cacheSeconds } = options;
  if (!appId || !secretKey) return async () => ({ reason: NOT_CONFIGURED });
  const cacheKey = (id: string) => projectKey(queuePrefix, 'email', 'customer-email', id);

  const remember = async (id: string, email: string | null) => {
    if (cacheSeconds > 0) await redis.set(cacheKey(id), JSON.stringify({ email }), 'EX', cacheSeconds);
  };
  const answer = (email: string | null, why: string): LookupResult => (email ? { email } : { reason: why });

  return async (customerId, signal) => {
    const cached = cacheSeconds > 0 ? await redis.get(cacheKey(customerId)) : null;
    if (cached !== null) {
      const { email } = JSON.parse(cached) as { email: string | null };
      return answer(email, 'the customer has no e-mail address in Voucherify (cached)');
    }

    const url = apiUrl(options.apiUrl, 'v1', 'customers', customerId);
    let response: Response;
    try {
      response = await fetch(url, { headers: { 'x-app-id': appId, 'x-app-token': secretKey, accept: 'application/json' }, signal });
    } catch (err) {
      throw new DownstreamError(`Voucherify API unreachable: ${coerceError(err).message}`, undefined, { cause: err });
    }
    const { status } = response;
    if (status === 200) {
      const body = (await response.json()) as { email?: unknown };
      // Untrimmed: the handler's address rule judges exactly what Voucherify holds.
      const email = typeof body.email === 'string' && body.email !== '' ? body.email : null;
      await remember(customerId, email);
      return answer(email, 'the customer has no e-mail address in Voucherify');
    }
    if (status === 404) {
      await response.body?.cancel();
      await remember(customerId, null);
      return { reason: 'the customer does not exist in Voucherify' };
    }
    const message = await readErrorMessage(response);
    if (status === 401 || status === 403) {
      throw new PermanentError(
        `Voucherify API refused the credentials (${status}: ${message}); check VOUCHERIFY_APP_ID and VOUCHERIFY_SECRET_KEY`,
      );
    }
    if (status === 429) {
      throw new RetryLaterError(`Voucherify API rate limit (429)`, {
        delayMs: retryAfterMs(response.headers.get('retry-after'), 5 * SECOND),
      });
    }
    if (status >= 500) throw new DownstreamError(`Voucherify API ${status}: ${message}`, status);
    throw new PermanentError(`Voucherify API answered ${status}: ${message}`);
  };
}
