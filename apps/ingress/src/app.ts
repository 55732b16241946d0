import express, { type Request, type Response, type NextFunction } from 'express';
import { SIGNATURE_HEADER, verifySignature } from '@vouchflow/schema';
import { coerceError, type Logger } from '@vouchflow/core';
import type { Intake } from './intake.js';

export interface IngressDeps {
  /** Webhook secrets; empty only when unsigned delivery is explicitly allowed. */
  secrets: readonly string[];
  allowUnsigned: boolean;
  intake: Intake;
  logger: Logger;
  /** True when Redis answers; used by /readyz. */
  isReady: () => Promise<boolean>;
  /** @defaultValue '1mb' */
  bodyLimit?: string | number;
}

/** The fields the ingress needs before it can store a delivery; everything else is the worker's business. */
function routingFields(body: unknown): { eventId: string; eventType: string } | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not a JSON object';
  const event = (body as Record<string, unknown>)['event'];
  if (typeof event !== 'object' || event === null) return 'event is missing';
  const { id, type } = event as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0) return 'event.id is missing or not a string';
  if (typeof type !== 'string' || type.length === 0) return 'event.type is missing or not a string';
  return { eventId: id, eventType: type };
}

/** Builds the ingress; `main.ts` wires real dependencies and listens. */
export function createApp(deps: IngressDeps): express.Express {
  const { secrets, allowUnsigned, intake, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const reject = (res: Response, status: number, reason: string) => {
    logger.warn('delivery rejected', { status, reason });
    res.status(status).json({ error: reason });
  };

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const ready = await deps.isReady().catch(() => false);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable' });
  });

  app.post(
    '/webhooks/voucherify',
    (req, res, next) => {
      if (!req.is('application/json')) return reject(res, 415, 'Content-Type must be application/json');
      next();
    },
    express.raw({ type: () => true, limit: deps.bodyLimit ?? '1mb' }),
    async (req: Request, res: Response) => {
      const raw = req.body as Buffer;
      const signature = req.get(SIGNATURE_HEADER);
      const signed = verifySignature(raw, signature, secrets);
      if (!signed) {
        if (!allowUnsigned) return reject(res, 401, signature ? 'signature does not match' : `${SIGNATURE_HEADER} header is missing`);
        logger.warn('accepting an unsigned delivery because WEBHOOK_ALLOW_UNSIGNED=true');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        return reject(res, 400, 'body is not valid JSON');
      }
      const fields = routingFields(parsed);
      if (typeof fields === 'string') return reject(res, 400, fields);
      try {
        const result = await intake.enqueue({ body: raw.toString('utf8'), ...fields, receivedAt: Date.now() });
        if (result === 'duplicate') res.status(200).json({ status: 'duplicate', eventId: fields.eventId });
        else res.status(202).json({ status: 'accepted', eventId: fields.eventId });
      } catch (err) {
        logger.error('could not store delivery', { eventId: fields.eventId, error: coerceError(err).message });
        res.status(503).set('Retry-After', '5').json({ error: 'could not store the delivery; retry later' });
      }
    },
  );

  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return reject(res, 413, 'body exceeds the size limit');
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return reject(res, e.status, coerceError(err).message);
    logger.error('unexpected error', { error: coerceError(err).message });
    res.status(503).set('Retry-After', '5').json({ error: 'temporarily unavailable' });
  });

  return app;
}
