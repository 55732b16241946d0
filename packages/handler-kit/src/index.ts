export {
  defineHandler,
  type Handler,
  type AnyHandler,
  type HandlerContext,
  type HandlerOutcome,
  type RateLimit,
  type CircuitSettings,
  type EventPattern,
  type MatchedEvent,
  type UnmatchedEvent,
  type HandlerEvent,
} from './handler.js';
export {
  defineHandlerFactory,
  buildHandler,
  isHandlerFactory,
  settingsPrefix,
  settingsInput,
  HandlerSettingsError,
  type HandlerFactory,
  type HandlerDeps,
  type SettingsCodec,
} from './factory.js';
export { narrowLogger, type Logger, type LogFields } from './logger.js';
export { PermanentError } from './errors/permanent-error.js';
export { RetryLaterError } from './errors/retry-later-error.js';
export { classifyError, ERROR_KIND, type ErrorKind } from './errors/brand.js';
export { patternMatches, subscribesTo } from './matches.js';
// isEventOf narrows a read-only event by name inside a wildcard handler, isKnownEvent tells known events from
// unknown ones; plugin authors need nothing but this package.
export { isEventOf, isKnownEvent, deepFreeze, type DeepReadonly, type AnyHandlerEvent } from './readonly.js';
export type { EventMap, EventType, WebhookEvent, UnknownWebhookEvent, HandledEvent } from '@vouchflow/schema';
