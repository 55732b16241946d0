import * as t from 'io-ts';
import { PermanentError, RetryLaterError } from '@vouchflow/handler-kit';
import { coerceError, SECOND } from '@vouchflow/core';
import { formatErrors } from '@vouchflow/schema';
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

/** `fetch`, a network failure (or an abort) turned into a retryable `DownstreamError`. */
async function call(url: URL, init: RequestInit, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal });
  } catch (err) {
    throw new DownstreamError(`HubSpot unreachable: ${coerceError(err).message}`, undefined, { cause: err });
  }
}

/** The error for a HubSpot answer that is not a success: what happens next depends on the status. */
async function failure(response: Response, what: string): Promise<Error> {
  const { status } = response;
  if (status === 429) {
    const delayMs = retryAfterMs(response.headers.get('retry-after'), DEFAULT_RETRY_AFTER);
    await response.body?.cancel();
    return new RetryLaterError(`HubSpot rate limit (429), retry in ${delayMs} ms`, { delayMs });
  }
  if (status >= 500) return new DownstreamError(`HubSpot ${status}: ${await readErrorMessage(response)}`, status);
  return new PermanentError(`HubSpot rejected the ${what} (${status}): ${await readErrorMessage(response)}`);
}

/**
 * `POST /crm/v3/objects/contacts/batch/upsert`. Resolves on success; throws
 * `RetryLaterError` for 429 (after Retry-After), `DownstreamError` for 5XX and
 * network failures (retried with backoff), `PermanentError` with HubSpot's
 * message for any other 4XX and for inputs HubSpot rejected in a 207.
 */
export async function upsertContacts(settings: HubSpotSettings, inputs: readonly ContactUpsert[], signal: AbortSignal): Promise<void> {
  const url = apiUrl(settings.baseUrl, 'crm', 'v3', 'objects', 'contacts', 'batch', 'upsert');
  const response = await call(
    url,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${settings.token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ inputs }),
    },
    signal,
  );
  const { status } = response;
  if (status >= 400) throw await failure(response, 'upsert');
  if (status === 207) {
    // Multi-status: some inputs failed validation; with one input per call that is ours.
    const body = (await response.json().catch(() => ({}))) as { errors?: Array<{ message?: string }> };
    const messages = (body.errors ?? []).map((e) => e.message).filter(Boolean);
    if (messages.length > 0) throw new PermanentError(`HubSpot rejected the upsert (207): ${messages.join('; ')}`);
    return;
  }
  await response.body?.cancel();
}

/** The part of HubSpot's contact read used here: a requested property it has no value for is null. */
const ContactRead = t.type({ properties: t.record(t.string, t.union([t.string, t.null])) });
type ContactRead = t.TypeOf<typeof ContactRead>;

/**
 * `GET /crm/v3/objects/contacts/{id}?idProperty=…&properties=…`: the contact's
 * values of `properties` (null, or absent, when it has none), or undefined
 * when no contact has that id (404). Other failures throw as `upsertContacts`
 * does; an answer that is not a contact is a `DownstreamError`.
 */
export async function readContact(
  settings: HubSpotSettings,
  contact: { idProperty: string; id: string; properties: readonly string[] },
  signal: AbortSignal,
): Promise<ContactRead['properties'] | undefined> {
  const url = apiUrl(settings.baseUrl, 'crm', 'v3', 'objects', 'contacts', contact.id);
  url.searchParams.set('idProperty', contact.idProperty);
  url.searchParams.set('properties', contact.properties.join(','));
  const response = await call(url, { headers: { authorization: `Bearer ${settings.token}`, accept: 'application/json' } }, signal);
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) throw await failure(response, 'contact read');
  const body: unknown = await response.json().catch(() => undefined);
  const decoded = ContactRead.decode(body);
  if (decoded._tag === 'Left') {
    throw new DownstreamError(`HubSpot answered the contact read with something else: ${formatErrors(decoded.left).join('; ')}`);
  }
  return decoded.right.properties;
}
