import { deflateRawSync, inflateRawSync } from 'node:zlib';
import * as t from 'io-ts';
import { isRight } from 'fp-ts/lib/Either.js';
import { projectKey, type RedisClient } from '@vouchflow/core';
import { DELIVERY_DICTIONARY_1 } from './delivery-dictionary-1.js';
import { eventIdSegment } from './intake.js';

/*
 * A processed delivery, kept for replay and `events show` for the delivery
 * retention, in one Redis string per event: `{prefix}:delivery:<event id>`.
 * Its intake job is removed as it completes, because a job hash costs several
 * times the delivery (BullMQ's fields, options, the completed set's entry) and
 * Redis is memory. The record is compressed with deflate and a dictionary made
 * from Voucherify's own example deliveries, which shrinks a 2.5 KB delivery to
 * a few hundred bytes: most of a delivery is keys and structure every delivery
 * shares.
 *
 * Layout: one version byte (which dictionary), then deflate-raw of
 * `<meta JSON>\n<body exactly as received>`. JSON.stringify never writes a raw
 * newline, so the first one ends the metadata.
 */

const DICTIONARIES: Record<number, Buffer> = { 1: Buffer.from(DELIVERY_DICTIONARY_1) };
const CURRENT = 1;
// Level 3: most of the dictionary's gain at a third of level 6's CPU (measured in bench memory).
const LEVEL = 3;

export const KeptDeliveryMeta = t.type(
  {
    eventId: t.string,
    eventType: t.string,
    /** Epoch milliseconds when the ingress accepted it. */
    receivedAt: t.number,
    /** Epoch milliseconds when the worker fanned it out. */
    processedAt: t.number,
    /** The intake job it came from (its copy id). */
    intakeJobId: t.string,
    /** The handlers it was handed to. */
    handlers: t.array(t.string),
  },
  'KeptDeliveryMeta',
);
export type KeptDeliveryMeta = t.TypeOf<typeof KeptDeliveryMeta>;

export interface KeptDelivery extends KeptDeliveryMeta {
  /** The request body exactly as received. */
  body: string;
}

/** Key of an event's kept delivery. */
export const keptDeliveryKey = (queuePrefix: string, eventId: string): string =>
  projectKey(queuePrefix, 'delivery', eventIdSegment(eventId));

export function encodeKeptDelivery(delivery: KeptDelivery): Buffer {
  const { body, ...meta } = delivery;
  const packed = deflateRawSync(`${JSON.stringify(meta)}\n${body}`, { level: LEVEL, dictionary: DICTIONARIES[CURRENT]! });
  return Buffer.concat([Buffer.from([CURRENT]), packed]);
}

export class UnreadableKeptDeliveryError extends Error {
  override readonly name = 'UnreadableKeptDeliveryError';
}

/** @throws UnreadableKeptDeliveryError for a record this version cannot read (an unknown dictionary, or damage). */
export function decodeKeptDelivery(record: Buffer): KeptDelivery {
  const dictionary = DICTIONARIES[record[0] ?? -1];
  if (!dictionary) throw new UnreadableKeptDeliveryError(`kept delivery with unknown format ${record[0]}`);
  let text: string;
  try {
    text = inflateRawSync(record.subarray(1), { dictionary }).toString('utf8');
  } catch (err) {
    throw new UnreadableKeptDeliveryError(`kept delivery does not inflate: ${(err as Error).message}`, { cause: err });
  }
  const newline = text.indexOf('\n');
  let meta: unknown;
  try {
    meta = JSON.parse(text.slice(0, newline));
  } catch {
    meta = undefined;
  }
  const decoded = KeptDeliveryMeta.decode(meta);
  if (newline < 0 || !isRight(decoded)) throw new UnreadableKeptDeliveryError('kept delivery metadata is damaged');
  return { ...decoded.right, body: text.slice(newline + 1) };
}

/** An event's kept delivery, while the retention keeps it. */
export async function findKeptDelivery(redis: RedisClient, queuePrefix: string, eventId: string): Promise<KeptDelivery | undefined> {
  const record = await redis.getBuffer(keptDeliveryKey(queuePrefix, eventId));
  return record ? decodeKeptDelivery(record) : undefined;
}
