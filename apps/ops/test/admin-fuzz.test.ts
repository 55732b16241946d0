import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import { createAdminApp, SESSION_COOKIE } from '../src/admin/app.js';
import { createDashboard } from '../src/admin/dashboard.js';
import { loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import { capturingLogger, Deployment, delivery, raw, switchableHandler, undecodable, waitForEvents } from './support.js';

/*
 * Random bytes and random JSON to every admin route, with and without a
 * session: whatever arrives, the answer is a 2XX, 3XX or 4XX, never a 5XX,
 * and nothing is logged as an error. The deployment has dead letters and
 * completed work, so the routes have something real to read.
 */

const TOKEN = 'admin-token-for-the-fuzz-test-0123456789';

/** Every route of the admin app, as `METHOD /path/:param`. Dashboard routes come from bull-board's own table. */
const ROUTES: Array<[string, string]> = [
  ['GET', '/healthz'],
  ['GET', '/'],
  ['GET', '/login'],
  ['POST', '/login'],
  ['POST', '/logout'],
  ['GET', '/api/stats'],
  ['GET', '/api/dead-letters'],
  ['POST', '/api/dead-letters/retry'],
  ['POST', '/api/dead-letters/purge'],
  ['GET', '/api/dead-letters/:id'],
  ['GET', '/api/dead-letters/:id/:more'],
  ['GET', '/api/events/:id'],
  ['POST', '/api/events/:id/replay'],
  ['GET', '/api/dead-letters/count'],
  ['GET', '/api/handlers'],
  ['POST', '/api/handlers/:id/pause'],
  ['POST', '/api/handlers/:id/resume'],
  ['POST', '/api/handlers/:id/:more'],
  ['GET', '/api/:id'],
  ['GET', '/dashboard'],
  ['GET', '/dashboard/:id'],
  ...appRoutes.api.flatMap((r) =>
    (Array.isArray(r.method) ? r.method : [r.method]).flatMap((m) =>
      (Array.isArray(r.route) ? r.route : [r.route]).map((route): [string, string] => [
        String(m).toUpperCase(),
        `/dashboard${String(route)}`,
      ]),
    ),
  ),
];

// Path segments as an attacker writes them: names that exist, traversal, broken percent-encoding, anything.
const segment = fc.oneof(
  fc.constantFrom(
    'intake',
    'handler-crm',
    'handler-email',
    'failed',
    'completed',
    'wait',
    '..',
    '.',
    '%',
    '%E0%A4%A',
    '%00',
    '%2F',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.string({ maxLength: 12, unit: 'binary' }).map(encodeURIComponent),
);
const queryString = fc
  .array(
    fc.tuple(
      fc.constantFrom('handler', 'decodeFailures', 'eventId', 'eventType', 'since', 'limit', 'status', 'page', '__proto__', 'x'),
      fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('true', '-1', '1e400', '0', '2h', '[]', 'null')),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : ''));
const body = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.json().map((j) => Buffer.from(j)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify({ yes: false, ids: [v], all: v, handler: v, since: v, limit: v, token: v }))),
  fc.string().map((s) => Buffer.from(`token=${encodeURIComponent(s)}&next=${encodeURIComponent(s)}`)),
  fc.constant(Buffer.alloc(0)),
);
const contentType = fc.constantFrom(
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'application/octet-stream',
  undefined,
);

const request = fc.record({
  route: fc.constantFrom(...ROUTES),
  params: fc.array(segment, { minLength: 4, maxLength: 4 }),
  query: queryString,
  body,
  contentType,
});

describe('the admin API and dashboard under random input', () => {
  const d = new Deployment();
  const crm = switchableHandler('crm');
  const email = switchableHandler('email');
  let opened: OpenedOperations;
  let server: Server;
  let base: string;
  let session: string;
  const { logger, lines } = capturingLogger();

  beforeAll(async () => {
    crm.down = true;
    await d.start([email, crm]);
    const crmEvents = await d.events('crm');
    const intakeEvents = await d.events('intake');
    const failed = Promise.all([waitForEvents(crmEvents, 'failed', undefined, { count: 2 }), waitForEvents(intakeEvents, 'failed')]);
    await d.send(delivery());
    await d.send(delivery());
    await d.send(undecodable());
    await failed;
    opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-fuzz-test' });
    // A generous throttle: the fuzz sends no credentials or a session, so it should never trip; if it did, 429 is still a 4XX.
    const app = createAdminApp({
      ops: opened.ops,
      token: TOKEN,
      logger,
      dashboard: createDashboard(opened.ops, '/dashboard', logger).router,
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const login = await raw(base, 'POST', '/login', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${TOKEN}`);
    session = String(login.headers['set-cookie']).split(';')[0]!;
    expect(session.startsWith(`${SESSION_COOKIE}=`)).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      server?.closeAllConnections();
    });
    await opened?.close();
    await d.cleanup();
  });

  // Found by the property below (seed -1363432345): a job id that names one of the queue's own keys.
  it('answers 404, not 500, for a job id that is the name of a queue key', async () => {
    for (const id of ['failed', 'meta', 'wait', 'events', 'id', 'delayed', 'completed', 'active', 'paused', 'stalled', 'marker']) {
      for (const queue of ['intake', 'handler-crm']) {
        const answer = await raw(base, 'GET', `/dashboard/api/queues/${queue}/${id}`, { cookie: session });
        expect([id, queue, answer.status]).toEqual([id, queue, 404]);
      }
    }
  });

  for (const mode of ['without a session', 'with a session'] as const) {
    it(`never answers 5XX ${mode}`, async () => {
      const seen = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(request, async ({ route: [method, pattern], params, query, body: payload, contentType: type }) => {
          let i = 0;
          const path = pattern.replace(/:\w+/g, () => params[i++ % params.length]!) + query;
          const headers: Record<string, string> = {};
          if (type !== undefined) headers['content-type'] = type;
          if (mode === 'with a session') headers['cookie'] = session;
          const answer = await raw(base, method, path, headers, method === 'GET' ? undefined : payload);
          seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
          expect([method, path, answer.status, answer.text.slice(0, 200)]).toEqual([method, path, expect.any(Number), expect.any(String)]);
          expect(answer.status, `${method} ${path} answered ${answer.status}: ${answer.text.slice(0, 200)}`).toBeLessThan(500);
        }),
        { numRuns: 400 },
      );
      // Both sides of the guard were reached: refusals, and (with a session) real answers.
      expect([...seen.keys()].some((s) => s >= 400)).toBe(true);
      if (mode === 'with a session') expect([...seen.keys()].some((s) => s < 300)).toBe(true);
      expect(lines.filter((l) => l['level'] === 'error')).toEqual([]);
    }, 120_000);
  }
});
