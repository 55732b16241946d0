import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { HOUR, MINUTE, coerceError, type Logger } from '@vouchflow/core';
import { ConflictError } from '../errors/conflict-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { UsageError } from '../errors/usage-error.js';
import { filterFrom } from '../filters.js';
import type { Operations } from '../operations.js';
import { loginPage } from './login-page.js';
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
  /** Failed logins allowed per client address and minute before answering 429. @defaultValue 10 */
  maxFailedLoginsPerMinute?: number;
  /** @defaultValue Date.now */
  now?: () => number;
  /** Resolves when Redis answers; `GET /readyz` reports it. @defaultValue always ready */
  ready?: () => Promise<void>;
}

const DASHBOARD = '/dashboard';

const cookieOf = (req: Request, name: string): string | undefined => {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
};

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
  const maxFailures = deps.maxFailedLoginsPerMinute ?? 10;
  const failures = new Map<string, { count: number; resetAt: number }>();

  const app = express();
  app.disable('x-powered-by');
  // A TLS-terminating proxy on the same host (the supported way to expose this) says the request
  // was HTTPS: the session cookie is then marked Secure, and the login throttle sees the real client.
  app.set('trust proxy', 'loopback');
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
      res.status(503).json({ status: 'unavailable', problems: [coerceError(err).message] });
    }
  });

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
    const client = req.ip ?? 'unknown';
    const seen = failures.get(client);
    if (seen && seen.resetAt > now() && seen.count >= maxFailures) {
      return sendLogin(res, 429, next, 'Too many wrong tokens. Wait a minute and try again.');
    }
    const given = typeof body['token'] === 'string' ? body['token'].trim() : '';
    if (!safeEqual(given, token)) {
      const entry = seen && seen.resetAt > now() ? seen : { count: 0, resetAt: now() + MINUTE };
      entry.count += 1;
      failures.set(client, entry);
      logger.warn('admin login refused', { client });
      return sendLogin(res, 401, next, 'That is not the admin token.');
    }
    failures.delete(client);
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
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(.+)$/i.exec(header);
      if (match && safeEqual(match[1]!.trim(), token)) return next();
      res.setHeader('WWW-Authenticate', 'Bearer realm="vouchflow-admin"');
      return res.status(401).json({ error: { kind: 'unauthorized', message: 'wrong bearer token' } });
    }
    if (sessions.verify(cookieOf(req, SESSION_COOKIE))) {
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
    res.json(await ops.listDeadLetters(filterFrom(req.query as Record<string, unknown>, now())));
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
        'expected {"ids": ["<dead letter id>", …]} or {"all": true, "handler"?, "decodeFailures"?, "eventId"?, "eventType"?, "since"?}',
      );
    }
    const result = await ops.retryDeadLetters(ids as string[]);
    res.status(result.notFound.length > 0 && result.retried.length === 0 ? 404 : 200).json(result);
  });

  api.post('/dead-letters/purge', async (req, res) => {
    const body = bodyOf(req);
    // The API's --yes: a purge cannot be undone, so an empty body never deletes everything.
    if (body['yes'] !== true)
      throw new UsageError(
        'purging cannot be undone: send {"yes": true} with the optional filters handler, decodeFailures, eventId, eventType, since',
      );
    res.json({ purged: await ops.purgeDeadLetters(filterFrom(body, now())) });
  });

  // Dead-letter ids contain a slash (`handler-crm/ev-…`), so the id is the rest of the path.
  api.get('/dead-letters/*id', async (req, res) => {
    const parts = (req.params as { id: string[] }).id;
    res.json(await ops.getDeadLetter(parts.join('/')));
  });

  api.get('/events/:eventId', async (req, res) => {
    res.json(await ops.showEvent(req.params['eventId'] ?? ''));
  });

  api.post('/events/:eventId/replay', async (req, res) => {
    const handler = bodyOf(req)['handler'];
    if (handler !== undefined && typeof handler !== 'string') throw new UsageError('handler: expected a string');
    res.json(await ops.replay(req.params['eventId'] ?? '', handler));
  });

  api.use((_req, res) => {
    res.status(404).json({ error: { kind: 'not_found', message: 'no such endpoint' } });
  });

  app.use('/api', guard, api);
  if (deps.dashboard) app.use(DASHBOARD, guard, deps.dashboard);

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const error = coerceError(err);
    const parseFailure = typeof err === 'object' && err !== null && 'type' in err && err.type === 'entity.parse.failed';
    const [status, kind] =
      error instanceof UsageError || parseFailure
        ? [400, 'usage']
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
