import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp, SESSION_COOKIE, type AdminAppDeps } from '../src/admin/app.js';
import { createAuthThrottle } from '../src/admin/auth-throttle.js';
import { createDashboard } from '../src/admin/dashboard.js';
import { loadAdminConfig, loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import { capturingLogger, Deployment, delivery, raw } from './support.js';

/*
 * The admin surface as an attacker meets it, over real HTTP against a real
 * deployment in Redis: guessing, forged headers, DNS rebinding, broken
 * cookies, and dashboard routes that would delete acknowledged work.
 */

const TOKEN = 'admin-token-for-security-tests-0123456789';

async function listen(app: ReturnType<typeof createAdminApp>): Promise<{ server: Server; base: string; close(): Promise<void> }> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const d = new Deployment();
let opened: OpenedOperations;
const started: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // No worker: deliveries stay waiting in intake, acknowledged and not yet processed.
  opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-security-test' });
}, 60_000);

afterAll(async () => {
  for (const stop of started) await stop();
  await opened?.close();
  await d.cleanup();
});

async function admin(overrides: Partial<AdminAppDeps> = {}) {
  const { logger, lines } = capturingLogger();
  const app = createAdminApp({
    ops: opened.ops,
    token: TOKEN,
    logger,
    dashboard: createDashboard(opened.ops, '/dashboard', logger).router,
    ...overrides,
  });
  const running = await listen(app);
  started.push(() => running.close());
  return { ...running, lines };
}

const bearer = { authorization: `Bearer ${TOKEN}` };

describe('the dashboard is an allow-list', () => {
  it('refuses to delete a delivery waiting to be processed, naming the pnpm ops command', async () => {
    const { base } = await admin();
    const sent = delivery();
    await d.send(sent);
    const [waiting] = await d.intake.getJobs(['wait']);
    expect(waiting?.data.eventId).toBe(sent.eventId);

    const answer = await raw(base, 'PUT', `/dashboard/api/queues/intake/${encodeURIComponent(String(waiting!.id))}/clean`, bearer);
    expect(answer.status).toBe(403);
    expect(answer.text).toContain('pnpm ops dlq purge');
    expect(await d.intake.getJob(String(waiting!.id))).toMatchObject({ data: { eventId: sent.eventId } });
  });

  it('refuses job delay, priority, concurrency, rate limits and schedulers', async () => {
    const { base } = await admin();
    const [waiting] = await d.intake.getJobs(['wait']);
    const job = encodeURIComponent(String(waiting!.id));
    const json = { ...bearer, 'content-type': 'application/json' };
    const tries: Array<[string, string, string?]> = [
      ['PATCH', `/dashboard/api/queues/intake/${job}/delay`, '{"delay":1}'],
      ['PATCH', `/dashboard/api/queues/intake/${job}/priority`, '{"priority":1}'],
      ['PUT', `/dashboard/api/queues/intake/${job}/remove-unprocessed-children`],
      ['PUT', '/dashboard/api/queues/intake/concurrency', '{"concurrency":1}'],
      ['PUT', '/dashboard/api/queues/intake/rate-limit', '{"max":1,"duration":1000}'],
      ['PUT', '/dashboard/api/queues/intake/rate-limit/release'],
      ['PUT', '/dashboard/api/queues/intake/job-schedulers/x/remove'],
      ['PATCH', '/dashboard/api/queues/intake/job-schedulers/x', '{}'],
      ['PUT', '/dashboard/api/queues/intake/job-schedulers/x/run'],
      ['PUT', '/dashboard/api/queues/intake/retry/completed'],
      ['POST', '/dashboard/api/queues/intake/add', '{"name":"x","data":{}}'],
    ];
    for (const [method, path, body] of tries) {
      const answer = await raw(base, method, path, json, body);
      expect([method, path, answer.status]).toEqual([method, path, 403]);
      expect(answer.text).toMatch(/use `pnpm (ops|sample)/);
    }
    expect(await d.intake.getJob(String(waiting!.id))).toBeDefined();
  });

  it('lets pause and resume through, and logs who did them', async () => {
    const { base, lines } = await admin();
    expect((await raw(base, 'PUT', '/dashboard/api/queues/intake/pause', bearer)).status).toBeLessThan(300);
    expect(await d.intake.isPaused()).toBe(true);
    expect((await raw(base, 'PUT', '/dashboard/api/queues/intake/resume', bearer)).status).toBeLessThan(300);
    expect(await d.intake.isPaused()).toBe(false);
    const audit = lines.filter((l) => l['message'] === 'dashboard action');
    expect(audit).toEqual([
      expect.objectContaining({ action: 'PUT /api/queues/:queueName/pause', queue: 'intake', by: 'bearer token from 127.0.0.1' }),
      expect.objectContaining({ action: 'PUT /api/queues/:queueName/resume', queue: 'intake', by: 'bearer token from 127.0.0.1' }),
    ]);
  });

  it('does not let a client name itself in the audit log', async () => {
    const { base, lines } = await admin();
    await raw(base, 'PUT', '/dashboard/api/queues/intake/pause', { ...bearer, 'x-vouchflow-admin-principal': 'somebody else' });
    await raw(base, 'PUT', '/dashboard/api/queues/intake/resume', bearer);
    expect(lines.find((l) => l['message'] === 'dashboard action')).toMatchObject({ by: 'bearer token from 127.0.0.1' });
  });
});

describe('admin authentication', () => {
  it('slows down bearer-token guessing: after 10 wrong tokens a minute, 429', async () => {
    const { base } = await admin();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await raw(base, 'GET', '/api/stats', { authorization: `Bearer guess-${i}` })).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(30).fill(429));
    // Blocked means blocked: the right token answers 429 too, so the answer says nothing about a guess.
    const right = await raw(base, 'GET', '/api/stats', bearer);
    expect(right.status).toBe(429);
    expect(right.headers['retry-after']).toBe('60');
  });

  it('counts wrong bearer tokens and wrong logins in one throttle', async () => {
    const { base } = await admin({ maxFailedLoginsPerMinute: 4 });
    for (let i = 0; i < 2; i++) expect((await raw(base, 'GET', '/api/stats', { authorization: 'Bearer nope' })).status).toBe(401);
    const login = (token: string) =>
      raw(base, 'POST', '/login', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${encodeURIComponent(token)}`);
    expect((await login('wrong')).status).toBe(401);
    expect((await login('wrong')).status).toBe(401);
    expect((await login(TOKEN)).status).toBe(429);
    expect((await raw(base, 'GET', '/api/stats', bearer)).status).toBe(429);
  });

  it('the window passes, and the memory of failures is bounded in entries and time', () => {
    let clock = 0;
    const throttle = createAuthThrottle({ maxFailures: 2, windowMs: 60_000, maxClients: 100, now: () => clock });
    throttle.failed('a');
    throttle.failed('a');
    expect(throttle.blocked('a')).toBe(true);
    clock += 60_001;
    expect(throttle.blocked('a')).toBe(false);
    for (let i = 0; i < 5000; i++) throttle.failed(`10.0.${i >> 8}.${i & 255}`);
    expect(throttle.size).toBeLessThanOrEqual(100);
    clock += 60_001;
    expect(throttle.blocked('10.0.19.135')).toBe(false);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY names the proxy: a forged address does not escape the throttle', async () => {
    const { base } = await admin({ maxFailedLoginsPerMinute: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await raw(base, 'GET', '/api/stats', { authorization: 'Bearer nope', 'x-forwarded-for': `203.0.113.${i}` })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
  });

  it('behind a trusted proxy, throttles each real client and marks the cookie Secure over HTTPS', async () => {
    const { base } = await admin({ maxFailedLoginsPerMinute: 2, trustProxy: ['loopback'] });
    const guess = (client: string) => raw(base, 'GET', '/api/stats', { authorization: 'Bearer nope', 'x-forwarded-for': client });
    expect([(await guess('203.0.113.1')).status, (await guess('203.0.113.1')).status, (await guess('203.0.113.1')).status]).toEqual([
      401, 401, 429,
    ]);
    expect((await guess('203.0.113.2')).status).toBe(401);

    const login = await raw(
      base,
      'POST',
      '/login',
      { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' },
      `token=${TOKEN}`,
    );
    expect(login.status).toBe(303);
    expect(String(login.headers['set-cookie'])).toMatch(/; Secure/);
  });

  it('without TRUST_PROXY, X-Forwarded-Proto does not make the cookie Secure (the request was plain HTTP)', async () => {
    const { base } = await admin();
    const login = await raw(
      base,
      'POST',
      '/login',
      { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' },
      `token=${TOKEN}`,
    );
    expect(login.status).toBe(303);
    expect(String(login.headers['set-cookie'])).not.toMatch(/Secure/);
  });

  it('refuses a Host outside ADMIN_ALLOWED_HOSTS (DNS rebinding), even with the right token', async () => {
    const { base } = await admin();
    const port = new URL(base).port;
    const rebound = await raw(base, 'GET', '/api/stats', { ...bearer, host: `evil.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.text).toContain('ADMIN_ALLOWED_HOSTS');
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      expect((await raw(base, 'GET', '/api/stats', { ...bearer, host })).status).toBe(200);
    }
    const named = await admin({ allowedHosts: ['admin.example'] });
    expect((await raw(named.base, 'GET', '/api/stats', { ...bearer, host: 'admin.example' })).status).toBe(200);
    expect((await raw(named.base, 'GET', '/api/stats', { ...bearer, host: `localhost:${port}` })).status).toBe(403);
  });

  it('treats a malformed session cookie as no cookie: 401 or the login form, never 500, no error logged', async () => {
    const { base, lines } = await admin();
    const api = await raw(base, 'GET', '/api/stats', { cookie: `${SESSION_COOKIE}=%E0%A4%A` });
    expect(api.status).toBe(401);
    const page = await raw(base, 'GET', '/dashboard', { cookie: `${SESSION_COOKIE}=%E0%A4%A`, accept: 'text/html' });
    expect(page.status).toBe(303);
    const login = await raw(base, 'GET', '/login', { cookie: `${SESSION_COOKIE}=%E0%A4%A` });
    expect(login.status).toBe(200);
    expect(lines.filter((l) => l['level'] === 'error')).toEqual([]);
  });
});

describe('admin settings', () => {
  it('reads TRUST_PROXY and ADMIN_ALLOWED_HOSTS, with safe defaults', () => {
    const base = { ADMIN_TOKEN: 'x'.repeat(32) };
    expect(loadAdminConfig(base)).toMatchObject({ TRUST_PROXY: false, ADMIN_ALLOWED_HOSTS: ['localhost', '127.0.0.1', '[::1]'] });
    expect(loadAdminConfig({ ...base, TRUST_PROXY: 'loopback, 10.0.0.0/8' }).TRUST_PROXY).toEqual(['loopback', '10.0.0.0/8']);
    expect(() => loadAdminConfig({ ...base, TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY/);
    expect(() => loadAdminConfig({ ...base, TRUST_PROXY: '10.0.0.0/99' })).toThrow(/TRUST_PROXY/);
    expect(loadAdminConfig({ ...base, ADMIN_ALLOWED_HOSTS: 'admin.example' }).ADMIN_ALLOWED_HOSTS).toEqual(['admin.example']);
  });
});
