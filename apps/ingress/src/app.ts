import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import express, { type NextFunction, type Request, type Response } from 'express';
import { SIGNATURE_HEADER, verifySignature } from '@vouchflow/schema';
import { coerceError, RedisRefusesWritesError, type Logger } from '@vouchflow/core';
import type { Backlog } from './backlog.js';
import { IntakeClosedError } from './errors/intake-closed-error.js';
import type { Intake } from './intake.js';
import type { DuplicateInspector } from './conflicting-duplicates.js';
import type { IngressMetrics, Outcome } from './metrics.js';
import { isJsonMediaType, routingFields, type RoutingFields } from './routing-fields.js';
import { inActiveContext } from './tracing.js';

export interface IngressDeps {
  /** Webhook secrets; empty only when unsigned delivery is explicitly allowed. */
  secrets: readonly string[];
  /** Accept deliveries without a signature (logged on every one); with secrets set, a wrong signature is still refused. */
  allowUnsigned: boolean;
  intake: Intake;
  logger: Logger;
  /** Back-pressure: read from a cache, never from Redis per request. */
  backlog: Pick<Backlog, 'overBound' | 'noteAccepted'>;
  /**
   * Resolves when Redis answers in time and takes writes; used by /readyz.
   * Warnings (Redis nearly full) make /readyz answer 200 `degraded`.
   */
  pingRedis: () => Promise<void | { warnings: readonly string[] }>;
  metrics: IngressMetrics;
  /** @defaultValue 1 MiB */
  bodyLimitBytes?: number;
  /** True once shutdown has begun: answers then close their connection so the server can stop. @defaultValue never */
  draining?: () => boolean;
  /** Tells a plain duplicate from a conflicting one (same event id, another body). @defaultValue every duplicate is plain */
  duplicates?: DuplicateInspector;
}

/** Voucherify keeps its own retry schedule; these tell other senders and operators how soon a retry makes sense. */
const RETRY_AFTER_UNAVAILABLE = '5';
const RETRY_AFTER_BACKPRESSURE = '30';

const WEBHOOK_PATH = '/webhooks/voucherify';

interface Rejection {
  status: number;
  outcome: Outcome;
  /** Told the sender and logged. */
  reason: string;
  /** Logged only (e.g. the Redis error). */
  detail?: string;
  eventId?: string;
  retryAfter?: string;
}

/** What a body-parser error means for the sender. */
function bodyError(err: unknown): Rejection | undefined {
  const { type, status } = err as { type?: unknown; status?: unknown };
  if (type === 'entity.too.large') return { status: 413, outcome: 'payload_too_large', reason: 'body exceeds the size limit' };
  if (type === 'encoding.unsupported' || type === 'charset.unsupported')
    return { status: 415, outcome: 'unsupported_media_type', reason: `unsupported content encoding or charset (${type})` };
  if (typeof status === 'number' && status >= 400 && status < 500)
    return { status, outcome: 'bad_request', reason: `could not read the body (${typeof type === 'string' ? type : status})` };
  return undefined;
}

/**
 * The routing fields of a body, the reason they are missing, or undefined for
 * invalid JSON (whose parser message quotes the body, so it is not passed on).
 * A function of its own so the parsed tree is garbage before the request
 * waits for Redis, instead of surviving collections while it waits.
 */
function readFields(text: string): RoutingFields | string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return routingFields(parsed);
}

/** A body error shaped like body-parser's, so {@link bodyError} reads both alike. */
const readError = (type: string, message: string): Error & { type: string; status: number } =>
  Object.assign(new Error(message), { type, status: 400 });

/**
 * Reads a request body that states its length and is not encoded, the form
 * every Voucherify delivery takes, without body-parser: it resolves the same
 * buffer body-parser's raw parser would, and answers `request.aborted` the
 * way it does. Node's HTTP parser delivers exactly Content-Length bytes
 * before `end`. Anything else (chunked, compressed, over the limit) goes to
 * body-parser, which owns those rules.
 */
function readPlainBody(req: IncomingMessage, length: number, callback: (err: Error | undefined, body?: Buffer) => void): void {
  // The request's trace, if any, continues in the callback (tracing.ts).
  const done = inActiveContext(callback);
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let received = 0;
  let settled = false;
  const settle = (err: Error | undefined, body?: Buffer) => {
    if (settled) return;
    settled = true;
    done(err, body);
  };
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
  });
  req.on('end', () => {
    if (received !== length) return settle(readError('request.size.invalid', 'request size did not match content length'));
    settle(undefined, chunks ? Buffer.concat(chunks, received) : (first ?? Buffer.alloc(0)));
  });
  req.on('error', () => settle(readError('request.aborted', 'request aborted')));
  req.on('close', () => settle(readError('request.aborted', 'request aborted')));
}

/** The header's value when it came once (Node joins repeated custom headers with ", "). */
const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
};

/**
 * Builds the ingress's request listener; `ingress.ts` wires it to a queue and
 * a server, `main.ts` to the environment.
 *
 * An Express app, except on the hot path: `POST /webhooks/voucherify`,
 * spelled exactly so, goes straight to the delivery handler. Reached through
 * Express's router, the same handler cost about twice the CPU per delivery
 * in `pnpm bench ingress` (Express swaps the prototypes of every request and
 * response, builds a final handler, matches the path against every layer).
 * Every other spelling Express routes to the webhook (a trailing slash,
 * another case, a query string) reaches the same handler through Express,
 * so both answer alike, and the bench measures both.
 */
export function createApp(deps: IngressDeps): RequestListener {
  const { secrets, allowUnsigned, intake, logger, backlog, metrics } = deps;
  const draining = deps.draining ?? (() => false);
  const bodyLimit = deps.bodyLimitBytes ?? 1024 * 1024;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const answer = (res: ServerResponse, startedAt: number, status: number, outcome: Outcome, body: object) => {
    if (draining()) res.setHeader('Connection', 'close');
    metrics.observe(outcome, (performance.now() - startedAt) / 1000);
    // Written directly rather than through res.json: this is the hot path, and a small ASCII
    // JSON object needs none of res.send's content negotiation, ETag or encoding work.
    const text = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  };

  // One line per refused request: status, reason and the event id when known; never the body or the signature.
  const reject = (res: ServerResponse, startedAt: number, { status, outcome, reason, detail, eventId, retryAfter }: Rejection) => {
    logger.warn('delivery rejected', {
      status,
      outcome,
      reason,
      ...(detail === undefined ? {} : { detail }),
      ...(eventId === undefined ? {} : { eventId }),
    });
    if (retryAfter) res.setHeader('Retry-After', retryAfter);
    answer(res, startedAt, status, outcome, { error: reason });
  };

  /** What an error no handler expected costs: a log line and a 503 the sender retries. */
  const unexpected = (err: unknown, req: IncomingMessage, res: ServerResponse) => {
    logger.error('unexpected error', { path: (req.url ?? '/').split('?')[0], error: coerceError(err).message });
    if (res.headersSent) {
      // Half an answer cannot be finished: end the connection, as Express's final handler does.
      req.socket.destroy();
      return;
    }
    const text = JSON.stringify({ error: 'temporarily unavailable' });
    res.statusCode = 503;
    if (draining()) res.setHeader('Connection', 'close');
    res.setHeader('Retry-After', RETRY_AFTER_UNAVAILABLE);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  };

  app.get('/healthz', (_req, res) => {
    if (draining()) res.setHeader('Connection', 'close');
    res.json({ status: 'ok' });
  });

  // On the public port: the problems are named, the internals (Redis's own error text, addresses) only logged.
  app.get('/readyz', async (_req, res) => {
    if (draining()) res.setHeader('Connection', 'close');
    const problems: string[] = [];
    const warnings: string[] = [];
    if (draining()) problems.push('shutting down');
    if (backlog.overBound()) problems.push('intake backlog over its bound');
    try {
      const said = await deps.pingRedis();
      if (said) warnings.push(...said.warnings);
    } catch (err) {
      // Unreachable, or reachable but refusing writes (full under noeviction): deliveries would fail either way.
      const refused = err instanceof RedisRefusesWritesError;
      problems.push(refused ? 'redis refuses writes' : 'redis unavailable');
      logger.debug(`readiness: ${refused ? 'redis refuses writes' : 'redis unavailable'}`, { error: coerceError(err).message });
    }
    if (problems.length > 0) res.status(503).json({ status: 'unavailable', problems });
    else if (warnings.length > 0) res.json({ status: 'degraded', warnings });
    else res.json({ status: 'ready' });
  });

  const readBody = express.raw({ type: () => true, limit: bodyLimit });

  const receive = async (raw: Buffer, req: IncomingMessage, res: ServerResponse, startedAt: number): Promise<void> => {
    const signature = header(req, SIGNATURE_HEADER);
    if (!verifySignature(raw, signature, secrets)) {
      // WEBHOOK_ALLOW_UNSIGNED lets unsigned deliveries in, never wrongly signed ones: a signature that
      // does not verify against a configured secret is a forgery or a misconfiguration either way.
      if (!allowUnsigned || (signature !== undefined && secrets.length > 0)) {
        const reason = signature ? 'signature does not match' : `${SIGNATURE_HEADER} header is missing`;
        return reject(res, startedAt, { status: 401, outcome: 'bad_signature', reason });
      }
      logger.warn('accepting a delivery without a valid signature because WEBHOOK_ALLOW_UNSIGNED=true');
    }

    const text = raw.toString('utf8');
    const fields = readFields(text);
    if (fields === undefined) return reject(res, startedAt, { status: 400, outcome: 'malformed_json', reason: 'body is not valid JSON' });
    if (typeof fields === 'string') return reject(res, startedAt, { status: 400, outcome: 'missing_event_fields', reason: fields });
    const { eventId } = fields;

    if (backlog.overBound()) {
      const reason = 'intake backlog is over its bound; retry later';
      return reject(res, startedAt, { status: 503, outcome: 'backpressure', reason, eventId, retryAfter: RETRY_AFTER_BACKPRESSURE });
    }

    try {
      const delivery = { body: text, eventId, eventType: fields.eventType, receivedAt: Date.now() };
      const result = await intake.enqueue(delivery);
      if (result === 'accepted') {
        backlog.noteAccepted(1);
        answer(res, startedAt, 202, 'accepted', { status: 'accepted', eventId });
      } else {
        // Still 2XX: Voucherify must not retry it. But a different body under a known id is logged,
        // counted and kept for an operator before the answer, so it is never dropped silently.
        const verdict = deps.duplicates ? await deps.duplicates.inspect(delivery) : { conflict: false as const };
        if (verdict.conflict) {
          metrics.conflictingDuplicate();
          logger.warn('conflicting duplicate: a known event id with a different body; not processed, kept for `pnpm ops events show`', {
            eventId,
            storedHash: verdict.storedHash,
            receivedHash: verdict.receivedHash,
            kept: verdict.kept,
          });
        }
        answer(res, startedAt, 200, 'duplicate', { status: 'duplicate', eventId });
      }
    } catch (err) {
      const closing = err instanceof IntakeClosedError;
      reject(res, startedAt, {
        status: 503,
        outcome: closing ? 'shutting_down' : 'redis_unavailable',
        reason: closing ? 'the ingress is shutting down; retry later' : 'could not store the delivery; retry later',
        detail: coerceError(err).message,
        eventId,
        retryAfter: RETRY_AFTER_UNAVAILABLE,
      });
    }
  };

  /** A delivery from its first byte to its answer; `fail` gets what no branch here expected. */
  const deliver = (req: IncomingMessage, res: ServerResponse, fail: (err: unknown) => void): void => {
    const startedAt = performance.now();
    if (!isJsonMediaType(header(req, 'content-type')))
      return reject(res, startedAt, { status: 415, outcome: 'unsupported_media_type', reason: 'Content-Type must be application/json' });
    const received = (err: unknown, body: Buffer | undefined) => {
      if (err === undefined || err === null) return void receive(body ?? Buffer.alloc(0), req, res, startedAt).catch(fail);
      // Answered here rather than in an error handler: the route also serves `/webhooks/voucherify/`
      // and other spellings Express matches, and a body error must be its 4XX on every one of them.
      const known = bodyError(err);
      if (known) reject(res, startedAt, known);
      else fail(err);
    };
    const length = header(req, 'content-length');
    if (length !== undefined && req.headers['transfer-encoding'] === undefined && req.headers['content-encoding'] === undefined) {
      const bytes = Number(length);
      if (Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= bodyLimit) return readPlainBody(req, bytes, received);
    }
    const withBody = req as IncomingMessage & { body?: unknown };
    readBody(req, res, (err?: unknown) => received(err, Buffer.isBuffer(withBody.body) ? withBody.body : undefined));
  };

  app.post(WEBHOOK_PATH, (req, res, next) => deliver(req, res, next));

  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    unexpected(err, req, res);
  });

  return (req, res) => {
    if (req.method === 'POST' && req.url === WEBHOOK_PATH) deliver(req, res, (err) => unexpected(err, req, res));
    else app(req, res);
  };
}
