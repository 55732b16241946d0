import { DelayedError, type Job } from 'bullmq';

/**
 * Puts a running job back to be tried at `at` without spending an attempt (BullMQ: moveToDelayed, then DelayedError).
 * `reason` is kept in the job's data (`waitReason`) for `pnpm ops events show`: why it waits, beside the time it runs next.
 */
export async function postpone(job: Job, token: string | undefined, at: number, reason?: string): Promise<never> {
  if (reason !== undefined && (job.data as { waitReason?: unknown }).waitReason !== reason)
    await job.updateData({ ...(job.data as object), waitReason: reason });
  await job.moveToDelayed(at, token);
  throw new DelayedError();
}
