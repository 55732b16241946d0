import { UnrecoverableError } from 'bullmq';
import { isLeft } from 'fp-ts/lib/Either.js';
import { coerceError } from '@vouchflow/core';
import { decodeDelivery, type DecodedDelivery } from '@vouchflow/schema';
import { deliveryBody, type HandlerJobData } from '@vouchflow/pipeline';
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

/** A unit's delivery, decoded: from the cache, else its own body, else the kept delivery's. */
export async function deliveryOf(
  ctx: WorkerContext,
  data: HandlerJobData,
): Promise<{ body: string | undefined; decoded?: DecodedDelivery; error?: Error }> {
  const cached = data.intakeJobId === undefined ? undefined : ctx.cache.get(data.intakeJobId);
  if (cached) return { body: undefined, decoded: cached };
  let body = data.body;
  body ??= await keptBody(ctx, data);
  if (body === undefined) {
    return { body, error: undecodable(`delivery of event ${data.eventId} is no longer kept (older than the delivery retention)`) };
  }
  try {
    const { decoded } = decodeBody(body);
    if (data.intakeJobId !== undefined) ctx.cache.set(data.intakeJobId, decoded, body.length);
    return { body, decoded };
  } catch (err) {
    return { body, error: coerceError(err) };
  }
}

export function keptBody(ctx: WorkerContext, data: HandlerJobData): Promise<string | undefined> {
  return deliveryBody(ctx.connection, ctx.queuePrefix, data.eventId, data.intakeJobId);
}
