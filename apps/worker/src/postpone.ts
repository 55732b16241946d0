import { DelayedError, type Job } from 'bullmq';

/** Puts a running job back to be tried at `at` without spending an attempt (BullMQ: moveToDelayed, then DelayedError). */
export async function postpone(job: Job, token: string | undefined, at: number): Promise<never> {
  await job.moveToDelayed(at, token);
  throw new DelayedError();
}
