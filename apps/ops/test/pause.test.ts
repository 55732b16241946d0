import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import { createAdminApp } from '../src/admin/app.js';
import { loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import type { HandlerStatus } from '../src/operations.js';
import { Deployment, delivery, jsonOf, quietLogger, runOps, switchableHandler, waitForEvents } from './support.js';

const TOKEN = 'admin-token-for-tests-0123456789';

/*
 * Pausing one handler from a runbook: `pnpm ops pause crm` and the admin API.
 * The worker runs first tries inline, as the worker app does: the CRM's units
 * still wait in its queue while e-mails go on, and resuming drains them.
 */
describe('pause and resume a handler', () => {
  const d = new Deployment();
  const email = switchableHandler('email');
  const crm = switchableHandler('crm');
  let intakeEvents: QueueEvents;
  let crmEvents: QueueEvents;
  const ops = (...args: string[]) => runOps(args, d.env);

  beforeAll(async () => {
    await d.start([email, crm], { inlineFirstTry: true });
    intakeEvents = await d.events('intake');
    crmEvents = await d.events('crm');
  }, 60_000);
  afterAll(async () => {
    await d.cleanup();
  });

  it('through the CLI: paused CRM units wait while e-mails go on, and resume drains them', async () => {
    const seen = d.sawPause('crm', true);
    const paused = await ops('pause', 'crm', '--json');
    expect(paused.code).toBe(0);
    expect(jsonOf<HandlerStatus>(paused)).toMatchObject({ handler: 'crm', state: 'paused' });
    await seen;

    const sent = [delivery(), delivery(), delivery()];
    // An intake job completes once its units' first tries ran inline (e-mail) or were queued (the paused CRM).
    const emailed = waitForEvents(intakeEvents, 'completed', undefined, { count: sent.length });
    for (const s of sent) await d.send(s);
    await emailed;
    expect(email.runs).toEqual(expect.arrayContaining(sent.map((s) => s.eventId)));
    expect(crm.runs).toEqual([]);

    const listed = jsonOf<HandlerStatus[]>(await ops('handlers', '--json'));
    expect(listed.find((h) => h.handler === 'crm')).toMatchObject({ state: 'paused', waiting: sent.length, active: 0 });
    expect(listed.find((h) => h.handler === 'email')).toMatchObject({ state: 'running', waiting: 0, done: sent.length });
    const table = await ops('handlers');
    expect(table.stdout).toMatch(/crm\s+│\s+paused\s+│\s+3/);

    const drained = waitForEvents(crmEvents, 'completed', undefined, { count: sent.length });
    const running = d.sawPause('crm', false);
    const resumed = await ops('resume', 'crm');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('crm: running');
    await drained;
    expect(crm.runs.sort()).toEqual(sent.map((s) => s.eventId).sort());
    await running;
  });

  it('refuses a handler name the deployment does not run, listing the real ones', async () => {
    const [pause, resume] = await Promise.all([ops('pause', 'hubspot'), ops('resume', 'hubspot', '--json')]);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toContain('no handler named hubspot (this deployment runs: crm, email)');
    expect(resume.code).toBe(1);
    expect(JSON.parse(resume.stderr)).toMatchObject({ error: { kind: 'not_found' } });
  });

  describe('through the admin API', () => {
    let opened: OpenedOperations;
    let server: Server;
    let base = '';
    const api = (path: string, method = 'GET') => fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });

    beforeAll(async () => {
      opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-pause-test' });
      server = createServer(createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger() }));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await opened.close();
    });

    it('pauses and resumes one handler, never intake or the other', async () => {
      const seen = d.sawPause('crm', true);
      const pause = await api('/api/handlers/crm/pause', 'POST');
      expect(pause.status).toBe(200);
      expect(await pause.json()).toMatchObject({ handler: 'crm', state: 'paused' });
      await seen;

      const sent = [delivery(), delivery()];
      const emailed = waitForEvents(intakeEvents, 'completed', (a) => sent.some((s) => a.jobId.includes(s.eventId)), {
        count: sent.length,
      });
      for (const s of sent) await d.send(s);
      await emailed;
      const handlers = (await (await api('/api/handlers')).json()) as HandlerStatus[];
      expect(handlers.map((h) => [h.handler, h.state])).toEqual([
        ['crm', 'paused'],
        ['email', 'running'],
      ]);
      expect(handlers[0]!.waiting).toBe(sent.length);

      const drained = waitForEvents(crmEvents, 'completed', (a) => sent.some((s) => a.jobId.includes(s.eventId)), { count: sent.length });
      const running = d.sawPause('crm', false);
      const resume = await api('/api/handlers/crm/resume', 'POST');
      expect(resume.status).toBe(200);
      await drained;
      await running;
      expect(crm.runs).toEqual(expect.arrayContaining(sent.map((s) => s.eventId)));

      const unknown = await api('/api/handlers/hubspot/pause', 'POST');
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain('crm, email');
    });
  });
});
