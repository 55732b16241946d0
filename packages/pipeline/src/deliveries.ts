import { readFileSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { INTAKE_QUEUE, projectKey, type RedisClient } from '@vouchflow/core';
import { readJobData } from './bullmq-seam.js';
import { eventIdSegment, intakeJobId, type IntakeJobData, type QueueSettings } from './intake.js';

/*
 * A processed delivery is kept for the retention window (the worker's
 * DELIVERY_RETENTION_HOURS) so an operator can show and replay it, and so a
 * unit retried from its handler's queue finds its body. It is kept as one
 * compact record, not as its completed intake job: the job (hash, options,
 * return value, timestamps) cost about 4 KB of Redis per event, this record
 * about a fifth of that. The intake job is removed as it completes.
 *
 *   {prefix}:delivery:<event id>  →  <version byte><header>\n<deflated body>
 *
 * header: receivedAt,processedAt-receivedAt,intake attempts,intake job id suffix,handlers(;)[,trace context]
 *
 * The body is deflated with a dictionary made of the spec's webhook examples
 * (scripts/delivery-dictionary.ts): Voucherify's deliveries repeat the same
 * keys, so a 2.6 KB points_added becomes about 440 bytes. The version byte
 * names the dictionary; a released dictionary never changes.
 *
 * The worker writes the record in the same batch as the delivery's first
 * once-only claims (units.ts), before any of its handler jobs exist.
 */

/** A delivery as it is kept after processing. */
export interface KeptDelivery extends IntakeJobData {
  /** Epoch ms the worker fanned it out. */
  processedAt: number;
  /** Tries the intake job took. */
  intakeAttempts: number;
  /** The intake job that carried it (gone once it completed). */
  intakeJobId: string;
  /** The handlers it was handed to. */
  handlers: string[];
  /** The trace context the ingress stored with it (when tracing is on), for replays to continue. */
  trace?: string;
}

export const deliveryKey = (queuePrefix: string, eventId: string): string => projectKey(queuePrefix, 'delivery', eventIdSegment(eventId));

const DICTIONARY_VERSION = 1;
let dictionaries: Map<number, Buffer> | undefined;
function dictionary(version: number): Buffer {
  dictionaries ??= new Map();
  let d = dictionaries.get(version);
  if (!d) {
    // ../assets from both src/ and dist/.
    d = readFileSync(new URL(`../assets/delivery-dictionary-${version}.txt`, import.meta.url));
    dictionaries.set(version, d);
  }
  return d;
}

const NEWLINE = 0x0a;

/** The dictionary kept bodies are deflated with now (a {@link BodyDeflater}'s). */
export const keptDeliveryDictionary = (): Buffer => dictionary(DICTIONARY_VERSION);

/** The kept record of a delivery. */
export function encodeKeptDelivery(d: KeptDelivery): Buffer {
  return keptDeliveryRecord(d, deflateRawSync(d.body, { dictionary: keptDeliveryDictionary() }));
}

/** The kept record of a delivery whose body is already deflated with {@link keptDeliveryDictionary}. */
export function keptDeliveryRecord(d: Omit<KeptDelivery, 'body'>, deflatedBody: Buffer): Buffer {
  // Its job id is the event's plus a per-copy suffix: only the suffix is kept (the whole id if it is not of that form).
  const base = intakeJobId(d.eventId);
  const job = d.intakeJobId.startsWith(base) ? d.intakeJobId.slice(base.length) : `=${d.intakeJobId}`;
  const trace = d.trace === undefined ? '' : `,${d.trace}`;
  const header = `${d.receivedAt},${d.processedAt - d.receivedAt},${d.intakeAttempts},${job},${d.handlers.join(';')}${trace}\n`;
  return Buffer.concat([Buffer.of(DICTIONARY_VERSION), Buffer.from(header, 'utf8'), deflatedBody]);
}

/** Decodes a kept record; undefined for anything else (a value written by an older version: an intake job id). */
export function decodeKeptDelivery(eventId: string, record: Buffer): KeptDelivery | undefined {
  const version = record[0];
  if (version !== DICTIONARY_VERSION) return undefined;
  const end = record.indexOf(NEWLINE, 1);
  if (end < 0) return undefined;
  const [received, processed, attempts, job = '', handlers = '', ...trace] = record.subarray(1, end).toString('utf8').split(',');
  const body = inflateRawSync(record.subarray(end + 1), { dictionary: dictionary(version) }).toString('utf8');
  const receivedAt = Number(received);
  // Not kept twice: the type is read from the body as the ingress read it (only deliveries that decoded are kept).
  let eventType = '';
  try {
    const type = (JSON.parse(body) as { event?: { type?: unknown } }).event?.type;
    if (typeof type === 'string') eventType = type;
  } catch {
    // Left empty: the record is still worth showing.
  }
  return {
    body,
    eventId,
    eventType,
    receivedAt,
    processedAt: receivedAt + Number(processed),
    intakeAttempts: Number(attempts),
    intakeJobId: job.startsWith('=') ? job.slice(1) : intakeJobId(eventId) + job,
    handlers: handlers === '' ? [] : handlers.split(';'),
    ...(trace.length > 0 ? { trace: trace.join(',') } : {}),
  };
}

/** An event's kept delivery, while the retention window holds it. */
export async function findDelivery(settings: QueueSettings, eventId: string): Promise<KeptDelivery | undefined> {
  const { connection, queuePrefix } = settings;
  const record = await connection.getBuffer(deliveryKey(queuePrefix, eventId));
  if (!record) return undefined;
  const kept = decodeKeptDelivery(eventId, record);
  if (kept) return kept;
  // Written before deliveries were kept compact: the value is the id of the completed intake job that holds it.
  const jobId = record.toString('utf8');
  const raw = await readJobData(connection, queuePrefix, INTAKE_QUEUE, jobId);
  if (raw === undefined) return undefined;
  const data = JSON.parse(raw) as IntakeJobData;
  return { ...data, processedAt: data.receivedAt, intakeAttempts: 1, intakeJobId: jobId, handlers: [] };
}

/** The body of an event's delivery: its kept record, else its intake job while that still exists (a unit retried before the intake job completed). */
export async function deliveryBody(
  redis: RedisClient,
  queuePrefix: string,
  eventId: string,
  intakeJobId?: string,
): Promise<string | undefined> {
  const kept = await findDelivery({ connection: redis, queuePrefix }, eventId);
  if (kept) return kept.body;
  if (intakeJobId === undefined) return undefined;
  const raw = await readJobData(redis, queuePrefix, INTAKE_QUEUE, intakeJobId);
  return raw === undefined ? undefined : (JSON.parse(raw) as IntakeJobData).body;
}
