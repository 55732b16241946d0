import { LRUCache } from 'lru-cache';
import type { DecodedDelivery } from '@vouchflow/schema';

/**
 * Deliveries this process decoded lately, by intake job id. The intake worker
 * decodes each delivery once and the handler jobs it fans out usually run in
 * the same process moments later: they take the decoded event from here
 * instead of reading and decoding the payload again. A miss (another process,
 * a restart) only costs a read from Redis and a decode.
 *
 * Bounded in bytes, not entries: deliveries are up to BODY_LIMIT (1 MiB) each,
 * so ten thousand of them could hold gigabytes. Each entry weighs its body's
 * length as received; the least recently used go first, and one larger than
 * the whole budget is not kept at all.
 */
export class DeliveryCache {
  private readonly entries: LRUCache<string, DecodedDelivery> | undefined;

  constructor(maxBytes: number) {
    this.entries = maxBytes > 0 ? new LRUCache<string, DecodedDelivery>({ maxSize: maxBytes }) : undefined;
  }

  get(intakeJobId: string): DecodedDelivery | undefined {
    return this.entries?.get(intakeJobId);
  }

  /** `bytes`: the size of the delivery's body, which the decoded event is weighed by. */
  set(intakeJobId: string, decoded: DecodedDelivery, bytes: number): void {
    this.entries?.set(intakeJobId, decoded, { size: Math.max(1, bytes) });
  }

  /** What the entries weigh now, in bytes of their bodies. */
  get bytes(): number {
    return this.entries?.calculatedSize ?? 0;
  }

  get size(): number {
    return this.entries?.size ?? 0;
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
