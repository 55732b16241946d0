export { IntakeJobData, intakeJobId, openIntakeQueue, type QueueSettings } from './intake.js';
export { HandlerJobData, handlerJobId, openHandlerQueue } from './handler-jobs.js';
export type { DeadLetter, DeadLetterFilter, DeadLetterStore, Progress } from './dead-letters.js';
