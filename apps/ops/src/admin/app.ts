import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { HOUR, MINUTE, coerceError, type Logger } from '@vouchflow/core';
import { createAuthThrottle } from './auth-throttle.js';
import { PRINCIPAL_HEADER } from './dashboard.js';
import { ConflictError } from '../errors/conflict-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { UsageError } from '../errors/usage-error.js';
import { filterFrom } from '../filters.js';
import { findQueryFrom } from '../find-events.js';
import type { Operations } from '../operations.js';
import { loginPage } from './login-page.js';
import { createEventPages } from './event-pages.js';
import { createSessions, safeEqual } from './session.js';

/** Name of the dashboard session cookie. */
export const SESSION_COOKIE = 'vouchflow_admin';

export interface AdminAppDeps {
  ops: Operations;
  /** ADMIN_TOKEN: the Bearer token of the API and the password of the login form. */
  token: string;
  logger: Logger;
  /** bull-board's router, served behind the same guard under `/dashboard`. */
  dashboard?: RequestHandler;
  /** How long a dashboard login lasts. @defaultValue 8 hours */
  sessionTtlMs?: number;
  /** Failed authentications (wrong bearer tokens and wrong logins together) per client address and minute before answering 429. @defaultValue 10 */
  maxFailedLoginsPerMinute?: number;
  /** Most client addresses the throttle remembers at once (least recently seen forgotten first). @defaultValue 10000 */
  maxThrottledClients?: number;
  /**
   * Whose `X-Forwarded-For` / `X-Forwarded-Proto` to believe (Express's `trust proxy`: addresses,
   * subnets, `loopback`). `false`: none, the client is the TCP peer. @defaultValue false (TRUST_PROXY)
   */
  trustProxy?: false | readonly string[];
  /** Host names (without port) requests may name; anything else is refused, which defeats DNS rebinding. @defaultValue loopback names (ADMIN_ALLOWED_HOSTS) */
  allowedHosts?: readonly string[];
  /** @defaultValue Date.now */
  now?: () => number;
  /** Resolves when Redis answers; `GET /readyz` reports it. @defaultValue always ready */
  ready?: () => Promise<void>;
}

const DASHBOARD = '/dashboard';

/** The loopback names a browser on this host uses. */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'] as const;

/** A cookie's value; a malformed one (bad percent-encoding) is treated as no cookie at all. */
const cookieOf = (req: Request, name: string): string | undefined => {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
};

const bareHost = (host: string) => host.toLowerCase().replace(/^\[(.*)\]$/, '$1');

/** Only a path on this site, so the login form cannot be used to bounce a signed-in user elsewhere. */
const safeNext = (value: unknown): string =>
  typeof value === 'string' && /^\/(?![/\\])/.test(value) && !value.includes('\\') ? value : DASHBOARD;

const sameHost = (origin: string, host: string | undefined): boolean => {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
};

const wantsHtml = (req: Request) => req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');

/**
 * The admin HTTP API: the operator CLI's verbs as JSON endpoints, the
 * dashboard, and the login that lets a browser reach the dashboard.
 *
 * Two ways in, both checked in constant time against ADMIN_TOKEN:
 * - `Authorization: Bearer <token>`, for scripts;
 * - the session cookie set by `POST /login`: HttpOnly (no script can read it),
 *   SameSite=Strict (no other site can make the browser send it, which is
 *   what stops cross-site request forgery), Secure over HTTPS.
 */
export function createAdminApp(deps: AdminAppDeps): express.Express {
  const { ops, token, logger } = deps;
  const now = deps.now ?? Date.now;
  const ttlMs = deps.sessionTtlMs ?? 8 * HOUR;
  const sessions = createSessions(token, ttlMs, now);
  const throttle = createAuthThrottle({
    maxFailures: deps.maxFailedLoginsPerMinute ?? 10,
    windowMs: MINUTE,
    maxClients: deps.maxThrottledClients ?? 10_000,
    now,
  });
  const allowedHosts = new Set((deps.allowedHosts ?? LOOPBACK_HOSTS).map(bareHost));

  const app = express();
  app.disable('x-powered-by');
  // Off unless TRUST_PROXY names the proxy: otherwise anyone could pick their own address (escaping the
  // throttle) or claim HTTPS. Behind a named proxy, the throttle sees the real client and the cookie is Secure.
  const trustProxy = deps.trustProxy ?? false;
  app.set('trust proxy', trustProxy === false ? false : [...trustProxy]);
  app.use((_req, res, next) => {
    // Nobody frames the dashboard: its buttons must not be clickjacked.
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await (deps.ready ?? (async () => {}))();
      res.json({ status: 'ready' });
    } catch (err) {
      // The admin port may be reachable beyond the operators: the problem is named, Redis's own error text is logged only.
      logger.warn('admin not ready', { error: coerceError(err).message });
      res.status(503).json({ status: 'unavailable', problems: ['redis: not answering'] });
    }
  });

  // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 reaches this port from
  // the victim's browser, but its requests still say `Host: evil.example`.
  app.use((req, res, next) => {
    if (allowedHosts.has(bareHost(req.hostname ?? ''))) return next();
    logger.warn('admin request refused: Host not allowed', { client: req.ip });
    res.status(403).json({ error: { kind: 'forbidden', message: 'this Host is not in ADMIN_ALLOWED_HOSTS' } });
  });

  const clientOf = (req: Request) => req.ip ?? 'unknown';
  const tooMany = (res: Response) => res.setHeader('Retry-After', String(Math.ceil(MINUTE / 1000)));

  // --- Login -------------------------------------------------------------
  const sendLogin = (res: Response, status: number, next: string, error?: string) => {
    res
      .status(status)
      .setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
      .setHeader('Cache-Control', 'no-store')
      .type('html')
      .send(loginPage({ next, error }));
  };

  app.get('/login', (req, res) => {
    const next = safeNext(req.query['next']);
    if (sessions.verify(cookieOf(req, SESSION_COOKIE))) return res.redirect(303, next);
    sendLogin(res, 200, next);
  });

  app.post('/login', express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body['next']);
    const client = clientOf(req);
    if (throttle.blocked(client)) {
      tooMany(res);
      return sendLogin(res, 429, next, 'Too many wrong tokens. Wait a minute and try again.');
    }
    const given = typeof body['token'] === 'string' ? body['token'].trim() : '';
    if (!safeEqual(given, token)) {
      throttle.failed(client);
      logger.warn('admin login refused', { client });
      return sendLogin(res, 401, next, 'That is not the admin token.');
    }
    throttle.succeeded(client);
    const session = sessions.issue();
    res.cookie(SESSION_COOKIE, session.value, {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      path: '/',
      maxAge: ttlMs,
    });
    logger.info('admin login', { client });
    res.redirect(303, next);
  });

  app.post('/logout', (_req, res) => {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', path: '/' });
    res.redirect(303, '/login');
  });

  // --- The guard ---------------------------------------------------------
  const guard: RequestHandler = (req, res, next) => {
    // Only this guard says who a request is from; whatever a client sent under that name is dropped.
    delete req.headers[PRINCIPAL_HEADER];
    const client = clientOf(req);
    const header = req.headers.authorization;
    if (header !== undefined) {
      // Blocked means blocked even for the right token: otherwise 429 versus 200 would still answer each guess.
      if (throttle.blocked(client)) {
        tooMany(res);
        return res
          .status(429)
          .json({ error: { kind: 'too_many_requests', message: 'too many wrong tokens from this address; wait a minute' } });
      }
      const match = /^Bearer\s+(.+)$/i.exec(header);
      if (match && safeEqual(match[1]!.trim(), token)) {
        throttle.succeeded(client);
        req.headers[PRINCIPAL_HEADER] = `bearer token from ${client}`;
        return next();
      }
      throttle.failed(client);
      logger.warn('admin bearer token refused', { client });
      res.setHeader('WWW-Authenticate', 'Bearer realm="vouchflow-admin"');
      return res.status(401).json({ error: { kind: 'unauthorized', message: 'wrong bearer token' } });
    }
    const cookie = cookieOf(req, SESSION_COOKIE);
    if (sessions.verify(cookie)) {
      // The nonce names the session in logs; without the MAC it authorizes nothing.
      req.headers[PRINCIPAL_HEADER] = `dashboard session ${cookie?.split('.')[1] ?? ''} from ${client}`;
      // SameSite=Strict already keeps other sites' requests cookie-less; a foreign Origin is refused as well.
      const origin = req.headers.origin;
      if (req.method !== 'GET' && req.method !== 'HEAD' && origin !== undefined && !sameHost(origin, req.headers.host)) {
        return res.status(403).json({ error: { kind: 'forbidden', message: 'cross-origin request refused' } });
      }
      return next();
    }
    if (wantsHtml(req)) return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
    res.setHeader('WWW-Authenticate', 'Bearer realm="vouchflow-admin"');
    res.status(401).json({ error: { kind: 'unauthorized', message: 'send Authorization: Bearer <ADMIN_TOKEN>, or sign in at /login' } });
  };

  app.get('/', (_req, res) => res.redirect(303, DASHBOARD));

  // --- JSON API: the same answers as `pnpm ops … --json` -----------------
  const api = express.Router();
  api.use(express.json({ limit: '100kb' }));
  const bodyOf = (req: Request) => (typeof req.body === 'object' && req.body !== null ? (req.body as Record<string, unknown>) : {});

  api.get('/stats', async (_req, res) => {
    res.json(await ops.stats());
  });

  api.get('/dead-letters', async (req, res) => {
    res.json(await ops.listDeadLetters(filterFrom(req.query, now())));
  });

  api.post('/dead-letters/retry', async (req, res) => {
    const body = bodyOf(req);
    const ids = body['ids'];
    if (body['all'] === true) {
      if (ids !== undefined) throw new UsageError('give ids or all, not both');
      res.json({ retried: await ops.retryAllDeadLetters(filterFrom(body, now())) });
      return;
    }
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string')) {
      throw new UsageError(
        'expected {"ids": ["<dead letter id>", …]} or {"all": true, "handler"?, "decodeFailures"?, "eventId"?, "eventType"?, "since"?, "reason"?, "retryableOnly"?}',
      );
    }
    const result = await ops.retryDeadLetters(ids);
    res.status(result.notFound.length > 0 && result.retried.length === 0 ? 404 : 200).json(result);
  });

  // A count says up to when it counted; a purge deletes at most that, so what arrives in between is kept.
  api.get('/dead-letters/count', async (req, res) => {
    const until = now();
    res.json({ count: await ops.countDeadLetters({ ...filterFrom(req.query, until), until }), until });
  });

  api.post('/dead-letters/purge', async (req, res) => {
    const body = bodyOf(req);
    const ids = body['ids'];
    if (ids !== undefined) {
      if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string'))
        throw new UsageError('ids: expected a non-empty list of dead-letter ids');
      if (Object.keys(body).some((k) => k !== 'ids')) throw new UsageError('give ids alone, or yes with until and filters');
      res.json({ purged: await ops.purgeDeadLetterIds(ids) });
      return;
    }
    // The API's --yes: a purge cannot be undone, so an empty body never deletes everything, and
    // `until` (from GET /api/dead-letters/count) keeps it to the entries that were counted.
    const until = body['until'];
    if (body['yes'] !== true || typeof until !== 'number' || !Number.isSafeInteger(until))
      throw new UsageError(
        'purging cannot be undone: send {"ids": [...]}, or {"yes": true, "until": <from GET /api/dead-letters/count>} with the optional filters handler, decodeFailures, eventId, eventType, since, reason, retryableOnly',
      );
    const { until: _until, ...rest } = body;
    res.json({ purged: await ops.purgeDeadLetters({ ...filterFrom(rest, now()), until }), until });
  });

  // Dead-letter ids contain a slash (`handler-crm/ev-…`), so the id is the rest of the path.
  api.get('/dead-letters/*id', async (req, res) => {
    const parts = req.params.id;
    res.json(await ops.getDeadLetter(parts.join('/')));
  });

  api.get('/events', async (req, res) => {
    res.json(await ops.findEvents(findQueryFrom(req.query, now())));
  });

  api.get('/events/:eventId', async (req, res) => {
    res.json(await ops.showEvent(req.params['eventId'] ?? ''));
  });

  api.post('/events/:eventId/replay', async (req, res) => {
    const { handler, allHandlers } = bodyOf(req);
    if (handler !== undefined && typeof handler !== 'string') throw new UsageError('handler: expected a string');
    if ((handler === undefined) === (allHandlers !== true))
      throw new UsageError(
        'send {"handler": "<name>"} to replay one handler, or {"allHandlers": true} to run every handler of the event again (not both)',
      );
    res.json(await ops.replay(req.params['eventId'] ?? '', handler));
  });

  api.get('/handlers', async (_req, res) => {
    res.json(await ops.handlers());
  });

  api.post('/handlers/:name/:verb', async (req, res, next) => {
    const { name = '', verb } = req.params;
    if (verb !== 'pause' && verb !== 'resume') return next();
    const status = verb === 'pause' ? await ops.pauseHandler(name) : await ops.resumeHandler(name);
    logger.info(verb === 'pause' ? 'handler paused' : 'handler resumed', { handler: status.handler, by: 'admin API', ip: req.ip });
    res.json(status);
  });

  api.use((_req, res) => {
    res.status(404).json({ error: { kind: 'not_found', message: 'no such endpoint' } });
  });

  app.use('/api', guard, api);
  if (deps.dashboard) {
    // Before bull-board's router, which would answer every path under /dashboard with its own page.
    app.use(`${DASHBOARD}/events`, guard, createEventPages(ops, logger));
    app.use(DASHBOARD, guard, deps.dashboard);
  }

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const error = coerceError(err);
    // Express and body-parser mark what the client got wrong (unparsable body, broken percent-encoding) with a 4XX status.
    const clientStatus = (err as { status?: unknown } | null)?.status;
    const clientError = typeof clientStatus === 'number' && clientStatus >= 400 && clientStatus < 500;
    const [status, kind] =
      error instanceof UsageError
        ? [400, 'usage']
        : clientError
          ? [clientStatus, 'usage']
          : error instanceof NotFoundError
            ? [404, 'not_found']
            : error instanceof ConflictError
              ? [409, 'conflict']
              : [500, 'error'];
    if (status === 500)
      logger.error('admin request failed', { method: req.method, path: req.path, error: error.message, stack: error.stack });
    res.status(status).json({ error: { kind, message: error.message } });
  });

  return app;
}
