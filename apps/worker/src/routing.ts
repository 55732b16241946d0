import type { AnyHandler } from '@vouchflow/handler-kit';

/** `customer.voucher.loyalty_card.*` matches every name starting with `customer.voucher.loyalty_card.`; `*` matches all. */
export function patternMatches(pattern: string, eventType: string): boolean {
  return pattern.endsWith('*') ? eventType.startsWith(pattern.slice(0, -1)) : pattern === eventType;
}

/** Finds a delivery's handlers; answers are cached per event type since handlers are fixed at start. */
export function createRouter(handlers: readonly AnyHandler[]): (eventType: string) => readonly AnyHandler[] {
  const cache = new Map<string, readonly AnyHandler[]>();
  return (eventType) => {
    let found = cache.get(eventType);
    if (!found) {
      found = handlers.filter((h) => h.events.some((p: string) => patternMatches(p, eventType)));
      cache.set(eventType, found);
    }
    return found;
  };
}
