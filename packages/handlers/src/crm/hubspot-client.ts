import { PermanentError, RetryLaterError } from '@vouchflow/handler-kit';
import { coerceError, SECOND } from '@vouchflow/core';
import { DownstreamError } from '../http/downstream-error.js';
import { readErrorMessage } from '../http/read-message.js';
import { retryAfterMs } from '../http/retry-after.js';
import { apiUrl } from '../http/api-url.js';

/** One contact to create or update, as HubSpot's batch upsert takes it. Values are strings. */
export interface ContactUpsert {
  idProperty: string;
  id: string;
  properties: Record<string, string>;
}

export interface HubSpotSettings {
  /** @defaultValue https://api.hubapi.com (from CRM_URL) */
  baseUrl: string;
  /** Private app token, sent as `Authorization: Bearer`. */
  token: string;
}

/** A 429 without Retry-After: HubSpot's limits are per 10-second window. */
const DEFAULT_RETRY_AFTER = 10 * SECOND;

/**
 * `POST /crm/v3/objects/contacts/batch/upsert`. Resolves on success; throws
 * `RetryLaterError` for 429 (after Retry-After), `DownstreamError` for 5XX and
 * network failures (retried with backoff), `PermanentError` with HubSpot's
 * message for any other 4XX and for inputs HubSpot rejected in a 207.
 */
export async function upsertContacts(settings: HubSpotSettings, inputs: readonly ContactUpsert[], signal: AbortSignal): Promise<void> {
  const url = apiUrl(settings.baseUrl, 'crm', 'v3', 'objects', 'contacts', 'batch', 'upsert');
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${settings.token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ inputs }),
      signal,
    });
  } catch (err) {
    throw new DownstreamError(`HubSpot unreachable: ${coerceError(err).message}`, undefined, { cause: err });
  }
  const { status } = response;
  if (status === 429) {
    const delayMs = retryAfterMs(response.headers.get('retry-after'), DEFAULT_RETRY_AFTER);
    await response.body?.cancel();
    throw new RetryLaterError(`HubSpot rate limit (429), retry in ${delayMs} ms`, { delayMs });
  }
  if (status >= 500) throw new DownstreamError(`HubSpot ${status}: ${await readErrorMessage(response)}`, status);
  if (status >= 400) throw new PermanentError(`HubSpot rejected the upsert (${status}): ${await readErrorMessage(response)}`);
  if (status === 207) {
    // Multi-status: some inputs failed validation; with one input per call that is ours.
    const body = (await response.json().catch(() => ({}))) as { errors?: Array<{ message?: string }> };
    const messages = (body.errors ?? []).map((e) => e.message).filter(Boolean);
    if (messages.length > 0) throw new PermanentError(`HubSpot rejected the upsert (207): ${messages.join('; ')}`);
    return;
  }
  await response.body?.cancel();
}
