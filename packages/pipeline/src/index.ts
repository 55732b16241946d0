export {
  IntakeJobData,
  eventIdSegment,
  eventIdOfSegment,
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
  eventIdOfUnit,
  handlerJobOptions,
  HANDLER_BACKOFF_TYPE,
  openHandlerQueue,
} from './handler-jobs.js';
export { threadDeflater, type BodyDeflater } from './body-deflater.js';
export {
  deliveryKey,
  encodeKeptDelivery,
  keptDeliveryRecord,
  keptDeliveryDictionary,
  decodeKeptDelivery,
  findDelivery,
  deliveryBody,
  type KeptDelivery,
} from './deliveries.js';
export { EVENT_INDEX_MAX_PER_KEY, indexEvent, findIndexedEvents, type EventIndexQuery, type IndexedEvent } from './event-index.js';
export type { DeadLetter, DeadLetterFilter, DeadLetterStore, Progress } from './dead-letters.js';
export {
  createDeadLetterStore,
  deadLetterId,
  parseDeadLetterId,
  firstFailureKey,
  recordFirstFailure,
  permanentFailureKey,
  recordPermanentFailure,
  type RedisDeadLetterStore,
} from './dead-letter-store.js';
export { RegisteredHandler, handlerRegistryKey, registerHandlers, readHandlerRegistry, type RetrySettings } from './handler-registry.js';
export {
  onceKey,
  INTAKE_TOTAL,
  decodeUnitRecord,
  unitRecords,
  unitRecordReader,
  triesBeforeJob,
  unitAttemptsMade,
  unitMaxAttempts,
  continuedAsJob,
  type UnitRecord,
  type UnitRecords,
  type UnitRecordsOptions,
  type UnitRecordReader,
  type Claim,
  type ClaimRefusal,
  type UnitInDoubt,
} from './units.js';
export {
  PINNED_BULLMQ_VERSION,
  installedBullmqVersion,
  checkBullmqSeam,
  readJobData,
  deduplicationTtlMs,
  readFailedJobs,
  failedJobIds,
  failedAt,
  delayedUntil,
  retryFailedJob,
  scriptBulkAdder,
  publicBulkAdder,
  ALREADY_KEPT,
  deduplicationKey,
  namesQueueKey,
  type SeamCheck,
  type FailedJobFields,
  type AddBulk,
  type BulkJob,
  type BulkResult,
} from './bullmq-seam.js';
export {
  conflictingDuplicatesKey,
  deliveryHash,
  keepConflictingDuplicate,
  readConflictingDuplicates,
  MAX_CONFLICTING_COPIES,
  type ConflictingDuplicate,
} from './conflicting-duplicates.js';
export {
  CircuitState,
  CircuitView,
  CLOSED,
  circuitKey,
  circuitStore,
  decodeCircuit,
  readCircuit,
  type CircuitStore,
  type ProbeVerdict,
} from './circuit.js';
