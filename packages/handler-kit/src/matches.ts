/**
 * Whether a subscription pattern covers an event name: a name matches itself,
 * `customer.voucher.loyalty_card.*` every name with that prefix, `*` all.
 */
export function patternMatches(pattern: string, eventType: string): boolean {
  return pattern.endsWith('*') ? eventType.startsWith(pattern.slice(0, -1)) : pattern === eventType;
}

/** Whether a handler subscribed to `events` receives `eventType`. */
export const subscribesTo = (events: readonly string[], eventType: string): boolean => events.some((p) => patternMatches(p, eventType));
