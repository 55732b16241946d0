/** What the ingress reads from a delivery before storing it; the full decode belongs to the worker. */
export interface RoutingFields {
  eventId: string;
  eventType: string;
}

/**
 * `event.id` and `event.type` of a parsed body, or the reason they cannot be
 * read. Nothing else is checked: a delivery the worker cannot decode is still
 * stored and ends in the dead letters, where it can be replayed after a fix.
 */
export function routingFields(body: unknown): RoutingFields | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not a JSON object';
  const event = (body as Record<string, unknown>)['event'];
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return 'event is missing or not an object';
  const { id, type } = event as Record<string, unknown>;
  if (typeof id !== 'string' || id.trim().length === 0) return 'event.id is missing or not a non-empty string';
  if (typeof type !== 'string' || type.trim().length === 0) return 'event.type is missing or not a non-empty string';
  return { eventId: id, eventType: type };
}

/** `application/json` or any `application/*+json`, parameters (charset) ignored. */
export function isJsonMediaType(header: string | undefined): boolean {
  if (!header) return false;
  const semicolon = header.indexOf(';');
  const type = (semicolon < 0 ? header : header.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
