import { createHash } from 'node:crypto';
import * as t from 'io-ts';
import { Queue, type JobsOptions, type QueueOptions } from 'bullmq';
import { bullPrefix, INTAKE_QUEUE, type RedisClient } from '@vouchflow/core';

/**
 * One accepted delivery, as the ingress stores it and the worker reads it.
 * `body` is the request body exactly as received, so a dead letter shows what
 * Voucherify sent and a replay decodes the same bytes.
 */
export const IntakeJobData = t.type(
  {
    body: t.string,
    eventId: t.string,
    eventType: t.string,
    /** Epoch milliseconds when the ingress accepted it. */
    receivedAt: t.number,
  },
  'IntakeJobData',
);
export type IntakeJobData = t.TypeOf<typeof IntakeJobData>;

/** Longer event ids are hashed, so one absurd id cannot make an absurd Redis key. */
const MAX_SEGMENT_SOURCE = 200;
const SAFE_CHAR = /[A-Za-z0-9_.~-]/;
const ALL_SAFE = /^[A-Za-z0-9_.~-]*$/;

/**
 * An event id as one segment of a BullMQ job id or Redis key. BullMQ refuses
 * custom job ids that contain `:` or read as integers, and an id is free text
 * to us; so anything but `[A-Za-z0-9_.~-]` becomes `%XXXX` (its UTF-16 code
 * unit, always four lowercase hex digits, so the mapping stays one-to-one).
 * Voucherify's ids (`evcus_…`) come out unchanged. Ids over 200 characters
 * become `%h<sha256>`, which no encoded id can equal (`h` is not a hex digit).
 */
export function eventIdSegment(eventId: string): string {
  if (eventId.length > MAX_SEGMENT_SOURCE) return `%h${createHash('sha256').update(eventId, 'utf16le').digest('hex')}`;
  if (ALL_SAFE.test(eventId)) return eventId;
  let out = '';
  for (let i = 0; i < eventId.length; i++) {
    const ch = eventId[i]!;
    out += SAFE_CHAR.test(ch) ? ch : `%${eventId.charCodeAt(i).toString(16).padStart(4, '0')}`;
  }
  return out;
}

/** The event id a {@link eventIdSegment} was made from; undefined for a hashed (over-long) one, which cannot be reversed. */
export function eventIdOfSegment(segment: string): string | undefined {
  if (segment.startsWith('%h')) return undefined;
  if (ALL_SAFE.test(segment)) return segment;
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    if (segment[i] !== '%') {
      if (!SAFE_CHAR.test(segment[i]!)) return undefined;
      out += segment[i];
      continue;
    }
    const hex = segment.slice(i + 1, i + 5);
    if (!/^[0-9a-f]{4}$/.test(hex)) return undefined;
    out += String.fromCharCode(parseInt(hex, 16));
    i += 4;
  }
  return out;
}

/** BullMQ job id derived from an event id alone (for jobs that must map one-to-one to an event). */
export const intakeJobId = (eventId: string): string => `ev-${eventIdSegment(eventId)}`;

/**
 * BullMQ job id of one stored copy of a delivery: the event id plus a nonce
 * unique to the ingress process and request. It must differ from the id of
 * any earlier copy, because the ingress tells a duplicate from a new delivery
 * by comparing the id BullMQ returns with the one it asked for.
 */
export const intakeCopyJobId = (eventId: string, nonce: string): string => `${intakeJobId(eventId)}.${nonce}`;

/**
 * BullMQ deduplication id of a delivery: its event id. While BullMQ
 * remembers it (the deduplication window), adding the same
 * event again stores nothing and returns the first copy's job id.
 */
export const intakeDeduplicationId = (eventId: string): string => eventIdSegment(eventId);

/**
 * Options of an intake job as the ingress adds it: deduplicated by event id
 * for `windowMs`, atomically inside BullMQ's add script. A replay that must
 * run an event again inside the window adds without `deduplication`. The ingress
 * sets no removeOnComplete: the worker removes a completed intake job (its
 * delivery is kept as a compact record), and the deduplication key outlives it.
 */
export function intakeJobOptions(eventId: string, nonce: string, windowMs: number): JobsOptions & { jobId: string } {
  return {
    jobId: intakeCopyJobId(eventId, nonce),
    deduplication: { id: intakeDeduplicationId(eventId), ttl: windowMs },
  };
}

export interface QueueSettings {
  connection: RedisClient;
  queuePrefix: string;
}

/**
 * A queue's `error` events only repeat its connection's errors, which the
 * connection's owner logs. Without a listener BullMQ prints each one raw to
 * stderr (an unstructured stack per reconnect attempt while Redis is down),
 * so every queue opened here gets one.
 */
export function quietQueueErrors<Q extends Queue>(queue: Q): Q {
  queue.on('error', () => {});
  return queue;
}

/** The intake queue, opened with the deployment's key prefix. Its caller closes it. */
export function openIntakeQueue({ connection, queuePrefix }: QueueSettings, options: Partial<QueueOptions> = {}): Queue<IntakeJobData> {
  return quietQueueErrors(new Queue<IntakeJobData>(INTAKE_QUEUE, { ...options, connection, prefix: bullPrefix(queuePrefix) }));
}
