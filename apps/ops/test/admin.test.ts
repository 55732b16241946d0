import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import type { DeadLetter } from '@vouchflow/pipeline';
import { createAdminApp, SESSION_COOKIE } from '../src/admin/app.js';
import { createDashboard } from '../src/admin/dashboard.js';
import { loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import type { EventReport, QueueStats, ReplayResult } from '../src/operations.js';
import { Deployment, delivery, quietLogger, runOps, switchableHandler, waitForEvents } from './support.js';

const TOKEN = 'admin-token-for-tests-0123456789';

async function listen(app: ReturnType<typeof createAdminApp>): Promise<{ server: Server; base: string }> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

describe('the admin API', () => {
  const d = new Deployment();
  const email = switchableHandler('email');
  const crm = switchableHandler('crm');
  const sent = [delivery(), delivery()];
  let opened: OpenedOperations;
  let server: Server;
  let base: string;
  let crmEvents: QueueEvents;
  let emailEvents: QueueEvents;
  const bearer = { authorization: `Bearer ${TOKEN}` };
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, redirect: 'manual', headers: { ...bearer, 'content-type': 'application/json', ...init.headers } });

  beforeAll(async () => {
    crm.down = true;
    await d.start([email, crm]);
    crmEvents = await d.events('crm');
    emailEvents = await d.events('email');
    const settled = Promise.all([
      waitForEvents(crmEvents, 'failed', undefined, { count: sent.length }),
      waitForEvents(emailEvents, 'completed', undefined, { count: sent.length }),
    ]);
    for (const s of sent) await d.send(s);
    await settled;
    opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-admin-test' });
    const app = createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger(), dashboard: createDashboard(opened.ops).router });
    ({ server, base } = await listen(app));
  }, 60_000);

  afterAll(async () => {
    if (server) await close(server);
    await opened?.close();
    await d.cleanup();
  });

  it('does not start without ADMIN_TOKEN, nor with a short one', async () => {
    const [missing, short] = await Promise.all([runOps(['serve'], d.env), runOps(['serve'], { ...d.env, ADMIN_TOKEN: 'short' })]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ADMIN_TOKEN: required');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('ADMIN_TOKEN: expected at least 16 characters');
    expect(short.stderr).not.toContain('short');
  });

  it('does not start in production with a token shorter than 32 characters', async () => {
    const run = await runOps(['serve'], { ...d.env, NODE_ENV: 'production', ADMIN_TOKEN: 'twenty-characters-01' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ADMIN_TOKEN: shorter than 32 characters, refused with NODE_ENV=production');
    expect(run.stderr).not.toContain('twenty-characters-01');
  });

  it('answers 401 without the bearer token or with a wrong one', async () => {
    const none = await fetch(`${base}/api/stats`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await fetch(`${base}/api/stats`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const right = await api('/api/stats');
    expect(right.status).toBe(200);
    const rows = (await right.json()) as QueueStats[];
    expect(rows.find((r) => r.queue === 'handler-crm')).toMatchObject({ dead: sent.length });
  });

  it('lists, shows and finds dead letters and events as `--json` does', async () => {
    const list = (await (await api('/api/dead-letters?handler=crm&since=1h')).json()) as DeadLetter[];
    expect(list.map((e) => e.eventId).sort()).toEqual(sent.map((s) => s.eventId).sort());
    // Dead-letter ids contain a slash: both the raw and the encoded form work.
    const raw = await api(`/api/dead-letters/${list[0]!.id}`);
    expect(await raw.json()).toEqual(list[0]);
    const encoded = await api(`/api/dead-letters/${encodeURIComponent(list[0]!.id)}`);
    expect(await encoded.json()).toEqual(list[0]);
    const missing = await api('/api/dead-letters/handler-crm/ev-nothing-crm');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { kind: 'not_found', message: expect.stringContaining('no dead letter') } });
    const badFilter = await api('/api/dead-letters?since=whenever');
    expect(badFilter.status).toBe(400);
    const byEvent = (await (await api(`/api/dead-letters?eventId=${encodeURIComponent(sent[1]!.eventId)}`)).json()) as DeadLetter[];
    expect(byEvent.map((e) => [e.eventId, e.handler])).toEqual([[sent[1]!.eventId, 'crm']]);
    expect(await (await api('/api/dead-letters?decodeFailures=true')).json()).toEqual([]);

    const report = (await (await api(`/api/events/${sent[0]!.eventId}`)).json()) as EventReport;
    expect(report.handlers.map((h) => [h.handler, h.state]).sort()).toEqual([
      ['crm', 'dead'],
      ['email', 'completed'],
    ]);
    expect((await api('/api/events/evcus_never_seen')).status).toBe(404);
  });

  it('retries one dead letter and replays an event', async () => {
    crm.down = false;
    const [entry] = (await (await api('/api/dead-letters?handler=crm&limit=1')).json()) as DeadLetter[];
    const jobId = entry!.id.slice('handler-crm/'.length);
    const done = waitForEvents<{ jobId: string }>(crmEvents, 'completed', (a) => a.jobId === jobId);
    const res = await api('/api/dead-letters/retry', { method: 'POST', body: JSON.stringify({ ids: [entry!.id] }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ retried: [entry!.id], notFound: [] });
    await done;

    const bad = await api('/api/dead-letters/retry', { method: 'POST', body: JSON.stringify({}) });
    expect(bad.status).toBe(400);

    const replayed = waitForEvents<{ jobId: string }>(emailEvents, 'completed', (a) => a.jobId.startsWith('replay-'));
    const unasked = await api(`/api/events/${entry!.eventId}/replay`, { method: 'POST', body: '{}' });
    expect(unasked.status).toBe(400);
    expect(((await unasked.json()) as { error: { message: string } }).error.message).toContain('allHandlers');
    const replay = await api(`/api/events/${entry!.eventId}/replay`, { method: 'POST', body: JSON.stringify({ handler: 'email' }) });
    expect(replay.status).toBe(200);
    const result = (await replay.json()) as ReplayResult;
    expect((await replayed)[0]!.jobId).toBe(result.jobs[0]!.jobId);
  });

  it('purges only with {"yes": true} and the bound its count returned', async () => {
    crm.down = true;
    const failed = waitForEvents(crmEvents, 'failed');
    await d.send(delivery());
    await failed;
    const refused = await api('/api/dead-letters/purge', { method: 'POST', body: JSON.stringify({ handler: 'crm' }) });
    expect(refused.status).toBe(400);
    const unbounded = await api('/api/dead-letters/purge', { method: 'POST', body: JSON.stringify({ handler: 'crm', yes: true }) });
    expect(unbounded.status).toBe(400);
    const { count, until } = (await (await api('/api/dead-letters/count?handler=crm')).json()) as { count: number; until: number };
    expect(count).toBe(2);
    const purged = await api('/api/dead-letters/purge', { method: 'POST', body: JSON.stringify({ handler: 'crm', yes: true, until }) });
    expect(await purged.json()).toEqual({ purged: 2, until });
    expect(await (await api('/api/dead-letters')).json()).toEqual([]);
  });

  it('sends a browser to the login form, and the form to the dashboard with an HttpOnly SameSite=Strict cookie', async () => {
    const page = await fetch(`${base}/dashboard`, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Fdashboard');

    const form = await fetch(`${base}/login?next=%2Fdashboard`);
    expect(await form.text()).toContain('name="token"');

    const post = (token: string, next = '/dashboard') =>
      fetch(`${base}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, next }).toString(),
      });
    const wrong = await post('not-the-token');
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('That is not the admin token.');
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const right = await post(TOKEN);
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe('/dashboard');
    const setCookie = right.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=`));
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';')[0]!;

    const dashboard = await fetch(`${base}/dashboard`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('<html');
    expect((await fetch(`${base}/api/stats`, { headers: { cookie } })).status).toBe(200);

    // A cookie altered by one character is worth nothing.
    const forged = cookie.slice(0, -1) + (cookie.endsWith('A') ? 'B' : 'A');
    expect((await fetch(`${base}/api/stats`, { headers: { cookie: forged } })).status).toBe(401);
    // Another site cannot drive the API with the cookie, even where a browser would send it.
    const crossSite = await fetch(`${base}/api/dead-letters/purge`, {
      method: 'POST',
      headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ yes: true }),
    });
    expect(crossSite.status).toBe(403);
    // The form only sends people to paths of this site.
    expect((await post(TOKEN, '//evil.example/')).headers.get('location')).toBe('/dashboard');

    // Plain HTTP: not Secure. Behind a proxy named in TRUST_PROXY it is (admin-security.test.ts).
    expect(setCookie).not.toContain('Secure');

    const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    expect(logout.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=;`));
  });

  it('shows intake and every handler queue in the dashboard, and refuses queue-wide deletes there', async () => {
    const queues = (await (await api('/dashboard/api/queues')).json()) as { queues: Array<{ name: string }> };
    expect(queues.queues.map((q) => q.name).sort()).toEqual(['handler-crm', 'handler-email', 'intake']);
    const empty = await api('/dashboard/api/queues/handler-crm/empty', { method: 'PUT' });
    expect(empty.status).toBe(403);
    // Pausing a handler during an outage is allowed, and `stats` shows it.
    expect((await api('/dashboard/api/queues/handler-crm/pause', { method: 'PUT' })).ok).toBe(true);
    const paused = (await (await api('/api/stats')).json()) as QueueStats[];
    expect(paused.find((r) => r.queue === 'handler-crm')).toMatchObject({ paused: true });
    expect((await api('/dashboard/api/queues/handler-crm/resume', { method: 'PUT' })).ok).toBe(true);
  });

  it('slows down guessing: too many wrong tokens from one address answer 429', async () => {
    const app = createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger(), maxFailedLoginsPerMinute: 2 });
    const local = await listen(app);
    try {
      const post = (token: string) =>
        fetch(`${local.base}/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token }).toString(),
        });
      expect((await post('wrong-1')).status).toBe(401);
      expect((await post('wrong-2')).status).toBe(401);
      expect((await post(TOKEN)).status).toBe(429);
    } finally {
      await close(local.server);
    }
  });
});
