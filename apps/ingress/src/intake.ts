import type { Queue } from 'bullmq';
import { intakeJobId, type IntakeJobData } from '@vouchflow/pipeline';

export type EnqueueResult = 'accepted' | 'duplicate';

/** Where the ingress puts an accepted delivery. Resolves only once Redis has stored it. */
export interface Intake {
  enqueue(delivery: IntakeJobData): Promise<EnqueueResult>;
}

/** One `queue.add` per delivery, its job id derived from the event id. */
export function queueIntake(queue: Queue<IntakeJobData>): Intake {
  return {
    async enqueue(delivery) {
      await queue.add('delivery', delivery, { jobId: intakeJobId(delivery.eventId) });
      return 'accepted';
    },
  };
}
