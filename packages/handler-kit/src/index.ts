export {
  defineHandler,
  type Handler,
  type AnyHandler,
  type HandlerContext,
  type HandlerOutcome,
  type RateLimit,
  type EventPattern,
  type MatchedEvent,
  type UnmatchedEvent,
  type HandlerEvent,
} from './handler.js';
export { PermanentError } from './errors/permanent-error.js';
export { RetryLaterError } from './errors/retry-later-error.js';
export { classifyError, type ErrorKind } from './errors/classify.js';
export { patternMatches, subscribesTo } from './matches.js';
// isEventOf narrows an event's data by name inside a wildcard handler, isKnownEvent tells known events from
// unknown ones; plugin authors need nothing but this package.
export { isEventOf, isKnownEvent } from '@vouchflow/schema';
export type { EventMap, EventType, WebhookEvent, UnknownWebhookEvent, HandledEvent } from '@vouchflow/schema';
