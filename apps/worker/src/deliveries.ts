import { UnrecoverableError } from 'bullmq';
import { isLeft } from 'fp-ts/lib/Either.js';
import { coerceError, INTAKE_QUEUE } from '@vouchflow/core';
import { decodeDelivery, type DecodedDelivery } from '@vouchflow/schema';
import { readJobData, type HandlerJobData, type IntakeJobData } from '@vouchflow/pipeline';
import { deepFreeze } from './delivery-cache.js';
import type { WorkerContext } from './worker-context.js';

/** A delivery that will never decode: dead-lettered at once, never retried. */
export function undecodable(reason: string): UnrecoverableError {
  return new UnrecoverableError(reason);
}

export function decodeBody(body: string): { parsed: unknown; decoded: DecodedDelivery } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw undecodable(`Delivery does not decode: body is not JSON: ${coerceError(err).message}`);
  }
  const decoded = decodeDelivery(parsed);
  if (isLeft(decoded)) throw undecodable(decoded.left.message);
  return { parsed, decoded: deepFreeze(decoded.right) };
}

/** A unit's delivery, decoded: from the cache, else its own body, else its intake job's. */
export async function deliveryOf(
  ctx: WorkerContext,
  data: HandlerJobData,
): Promise<{ body: string | undefined; decoded?: DecodedDelivery; error?: Error }> {
  const cached = data.intakeJobId === undefined ? undefined : ctx.cache.get(data.intakeJobId);
  if (cached) return { body: undefined, decoded: cached };
  let body = data.body;
  if (body === undefined && data.intakeJobId !== undefined) body = await intakeBody(ctx, data.intakeJobId);
  if (body === undefined) {
    return { body, error: undecodable(`delivery no longer retained: intake job ${data.intakeJobId ?? '(none)'} is gone`) };
  }
  try {
    const { decoded } = decodeBody(body);
    if (data.intakeJobId !== undefined) ctx.cache.set(data.intakeJobId, decoded, body.length);
    return { body, decoded };
  } catch (err) {
    return { body, error: coerceError(err) };
  }
}

export async function intakeBody(ctx: WorkerContext, intakeJobId: string): Promise<string | undefined> {
  const raw = await readJobData(ctx.connection, ctx.queuePrefix, INTAKE_QUEUE, intakeJobId);
  return raw === undefined ? undefined : (JSON.parse(raw) as IntakeJobData).body;
}
