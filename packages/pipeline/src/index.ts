export {
  IntakeJobData,
  eventIdSegment,
  intakeJobId,
  intakeCopyJobId,
  intakeDeduplicationId,
  intakeJobOptions,
  openIntakeQueue,
  type QueueSettings,
} from './intake.js';
export {
  HandlerJobData,
  handlerJobId,
  handlerReplayJobId,
  handlerJobOptions,
  HANDLER_BACKOFF_TYPE,
  openHandlerQueue,
} from './handler-jobs.js';
export { deliveryIndexKey, indexDelivery, findDelivery } from './deliveries.js';
export type { DeadLetter, DeadLetterFilter, DeadLetterStore, Progress } from './dead-letters.js';
export {
  createDeadLetterStore,
  deadLetterId,
  parseDeadLetterId,
  firstFailureKey,
  recordFirstFailure,
  type RedisDeadLetterStore,
} from './dead-letter-store.js';
export { RegisteredHandler, handlerRegistryKey, registerHandlers, readHandlerRegistry, type RetrySettings } from './handler-registry.js';
export { onceKey, onceRecords, type ClaimResult, type OnceRecords } from './once.js';
export {
  conflictingDuplicatesKey,
  deliveryHash,
  keepConflictingDuplicate,
  readConflictingDuplicates,
  MAX_CONFLICTING_COPIES,
  type ConflictingDuplicate,
} from './conflicting-duplicates.js';
