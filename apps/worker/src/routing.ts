import { subscribesTo, type AnyHandler } from '@vouchflow/handler-kit';

/**
 * Finds a delivery's handlers with the same matcher plugin authors' test kit
 * uses; answers are cached per event type since handlers are fixed at start.
 */
export function createRouter(handlers: readonly AnyHandler[]): (eventType: string) => readonly AnyHandler[] {
  const cache = new Map<string, readonly AnyHandler[]>();
  return (eventType) => {
    let found = cache.get(eventType);
    if (!found) {
      found = handlers.filter((h) => subscribesTo(h.events, eventType));
      cache.set(eventType, found);
    }
    return found;
  };
}
