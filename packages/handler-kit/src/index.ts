export {
  defineHandler,
  type Handler,
  type AnyHandler,
  type HandlerContext,
  type HandlerOutcome,
  type RateLimit,
  type EventPattern,
  type MatchedEvent,
} from './handler.js';
export { PermanentError } from './errors/permanent-error.js';
export { RetryLaterError } from './errors/retry-later-error.js';
export { classifyError, type ErrorKind } from './errors/classify.js';
export { patternMatches, subscribesTo } from './matches.js';
export type { EventMap, EventType, WebhookEvent } from '@vouchflow/schema';
