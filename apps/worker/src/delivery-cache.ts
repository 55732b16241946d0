import type { DecodedDelivery } from '@vouchflow/schema';

/**
 * Deliveries this process decoded lately, by intake job id. The intake worker
 * decodes each delivery once and the handler jobs it fans out usually run in
 * the same process moments later: they take the decoded event from here
 * instead of reading and decoding the payload again. A miss (another process,
 * a restart) only costs a read from Redis and a decode.
 */
export class DeliveryCache {
  private readonly entries = new Map<string, DecodedDelivery>();

  constructor(private readonly capacity: number) {}

  get(intakeJobId: string): DecodedDelivery | undefined {
    return this.entries.get(intakeJobId);
  }

  set(intakeJobId: string, decoded: DecodedDelivery): void {
    if (this.capacity <= 0) return;
    // A Map iterates in insertion order: the first key is the oldest.
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(intakeJobId, decoded);
  }
}

/**
 * Freezes a decoded event, deeply: handlers of one delivery share it, so one
 * handler changing it must fail loudly rather than change what the next sees.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
