/*
 * Units in doubt as an operator sees them: `pnpm ops events show` (table and
 * --json), `events find`, and the admin's event page. The doubt is left the
 * way a dying worker leaves it, through the real protocol: a claim with a
 * short lease that nobody renews, polled until Redis's clock ends it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyHandler } from '@vouchflow/handler-kit';
import {
  handlerJobId,
  handlerRegistryKey,
  intakeJobId,
  onceKey,
  unitRecordReader,
  unitRecords,
  type UnitRecord,
} from '@vouchflow/pipeline';
import { createAdminApp } from '../src/admin/app.js';
import { createDashboard } from '../src/admin/dashboard.js';
import { formatTime } from '../src/cli/format.js';
import { loadCliConfig } from '../src/config.js';
import type { FoundEvent } from '../src/find-events.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import type { EventReport, HandlerWork } from '../src/operations.js';
import { Deployment, delivery, jsonOf, quietLogger, runOps, switchableHandler, waitForEvents } from './support.js';

const TOKEN = 'in-doubt-admin-token-0123456789';

describe('units in doubt, as operators see them', () => {
  const d = new Deployment();
  // email has a wasDone (its next run asks it); crm has none (its next run runs blind).
  const email: AnyHandler = { ...switchableHandler('email'), wasDone: async () => false };
  const crm = switchableHandler('crm');
  // Fails for good at its first try: a dead letter, so a unit with a job.
  const sms = switchableHandler('sms');
  sms.down = true;
  const sent = delivery();
  const transactionId = `vtx_${sent.eventId}`;
  const ops = (...args: string[]) => runOps(args, d.env);
  const reader = unitRecordReader(d.redis, d.prefix);
  let emailSince: number;
  let opened: OpenedOperations | undefined;
  let server: Server | undefined;
  let base: string;

  /** A run of `handler`'s unit that claims it and then dies: no renewal, so its lease runs out. Resolves once Redis says it has. */
  async function runThatDies(handler: string, attempt: number): Promise<UnitRecord | undefined> {
    const dying = unitRecords(d.redis, d.prefix, { leaseMs: 1_000, keepMs: 60_000 });
    try {
      const claim = await dying.claim({
        key: onceKey(d.prefix, transactionId),
        owner: handlerJobId(sent.eventId, handler),
        handler,
        attempt,
      });
      if ('status' in claim) throw new Error(`expected the claim of ${handler} granted, got ${claim.status}`);
    } finally {
      await dying.close();
    }
    let record = await reader.read(transactionId, handler);
    while (record?.state === 'running') {
      await new Promise((r) => setTimeout(r, 100));
      record = await reader.read(transactionId, handler);
    }
    return record;
  }

  beforeAll(async () => {
    await d.start([email, crm, sms], { inlineFirstTry: true });
    const [intake, smsEvents] = [await d.events('intake'), await d.events('sms')];
    const takenIn = waitForEvents<{ jobId: string }>(intake, 'completed', (a) => a.jobId.startsWith(`${intakeJobId(sent.eventId)}.`));
    const smsDead = waitForEvents(smsEvents, 'failed');
    await d.send(sent);
    await Promise.all([takenIn, smsDead]);
    // email and crm ran inline and were recorded done; their records go, as if those runs had been the ones that died.
    await d.redis.hdel(onceKey(d.prefix, transactionId), 'email', 'crm');
    // sms's failed run gave its claim back; a retry of its dead letter that then died is what the next one leaves.
    expect(await reader.read(transactionId, 'sms')).toBeUndefined();
    await runThatDies('sms', 2);

    const emailRecord = await runThatDies('email', 2);
    expect(emailRecord).toMatchObject({ state: 'in-doubt', owner: handlerJobId(sent.eventId, 'email'), attempt: 2 });
    emailSince = (emailRecord as { leaseEnded: number }).leaseEnded;
    expect(emailSince).toBeLessThanOrEqual(Date.now());

    // crm's: a later run took the doubt over, failed before settling it, and gave the claim back still in doubt.
    await runThatDies('crm', 1);
    const later = unitRecords(d.redis, d.prefix, { leaseMs: 30_000, keepMs: 60_000 });
    try {
      const claim = await later.claim({
        key: onceKey(d.prefix, transactionId),
        owner: handlerJobId(sent.eventId, 'crm'),
        handler: 'crm',
        attempt: 2,
      });
      if ('status' in claim) throw new Error('expected the claim of crm granted');
      expect(claim.inDoubt).toEqual({ owner: handlerJobId(sent.eventId, 'crm'), attempt: 1 });
      expect(await claim.release({ inDoubt: true })).toBe(true);
    } finally {
      await later.close();
    }
    expect(await reader.read(transactionId, 'crm')).toEqual({
      state: 'in-doubt',
      owner: handlerJobId(sent.eventId, 'crm'),
      attempt: 1,
      leaseEnded: undefined,
    });

    // The admin, in process, on what `pnpm ops` reads.
    opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-in-doubt-test' });
    const listening = createServer(
      createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger(), dashboard: createDashboard(opened.ops).router }),
    );
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    if (server) {
      const s = server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
    await opened?.close();
    await d.cleanup();
  });

  it('events show --json gives each unit in doubt: which run, which try, since when, and what its next run does', async () => {
    const run = await ops('events', 'show', sent.eventId, '--json');
    expect(run.code, run.stderr).toBe(0);
    const report = jsonOf<EventReport>(run);
    const byHandler = new Map(report.handlers.map((h): [string, HandlerWork] => [h.handler, h]));
    expect(byHandler.get('email')).toMatchObject({
      jobId: handlerJobId(sent.eventId, 'email'),
      state: 'in-doubt',
      attemptsMade: 2,
      finishedAt: null,
      inDoubt: { owner: handlerJobId(sent.eventId, 'email'), attempt: 2, since: emailSince, next: 'ask-was-done' },
    });
    expect(byHandler.get('crm')).toMatchObject({
      state: 'in-doubt',
      attemptsMade: 1,
      inDoubt: { owner: handlerJobId(sent.eventId, 'crm'), attempt: 1, since: null, next: 'run-again' },
    });
    // A unit with a job keeps its job's state.
    expect(byHandler.get('sms')).toMatchObject({
      state: 'dead',
      inDoubt: { owner: handlerJobId(sent.eventId, 'sms'), attempt: 2, since: expect.any(Number) as number, next: 'run-again' },
    });
  });

  it('events show says it in words', async () => {
    const run = await ops('events', 'show', sent.eventId);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/│ email\s+│ ev-\S+-email\s+│ in-doubt\s+│ 2 /);
    expect(run.stdout).toContain('In doubt:');
    expect(run.stdout).toContain(
      `email: try 2 of ${handlerJobId(sent.eventId, 'email')} started and never ended (its worker died or froze; its lease ran out ${formatTime(emailSince)}), so its effect may or may not have happened; its next run asks email's wasDone first`,
    );
    expect(run.stdout).toContain(
      `crm: try 1 of ${handlerJobId(sent.eventId, 'crm')} started and never ended (a later run failed before it could settle the doubt`,
    );
    expect(run.stdout).toContain('crm has no wasDone: its next run runs it again, so its effect may happen twice');
    expect(run.stdout).toMatch(/│ sms\s+│ ev-\S+-sms\s+│ dead \(in doubt\)\s+│/);
    expect(run.stdout).toContain(`sms: try 2 of ${handlerJobId(sent.eventId, 'sms')} started and never ended`);
  });

  it('events find by the transaction finds the event, its units in doubt', async () => {
    const run = await ops('events', 'find', '--transaction', transactionId, '--json');
    expect(run.code, run.stderr).toBe(0);
    const [found] = jsonOf<FoundEvent[]>(run);
    expect(found?.eventId).toBe(sent.eventId);
    expect(found?.handlers.map((h) => [h.handler, h.outcome, h.inDoubt?.next])).toEqual([
      ['email', 'in-doubt', 'ask-was-done'],
      ['crm', 'in-doubt', 'run-again'],
      ['sms', 'dead', 'run-again'],
    ]);
    const table = await ops('events', 'find', '--transaction', transactionId);
    expect(table.stdout).toContain(`email: in-doubt (try 2 never ended, since ${formatTime(emailSince)}; next run asks wasDone)`);
  });

  it('the event page shows them, in the state column and beside the reason', async () => {
    const res = await fetch(`${base}/dashboard/events/${encodeURIComponent(sent.eventId)}`, {
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/html' },
    });
    expect(res.status).toBe(200);
    const page = await res.text();
    const row = (handler: string) => {
      const start = page.indexOf(`<tr data-handler="${handler}">`);
      expect(start, `no row for ${handler}`).toBeGreaterThanOrEqual(0);
      return page.slice(start, page.indexOf('</tr>', start));
    };
    expect(row('email')).toContain('<td class="state-in-doubt">in-doubt</td>');
    expect(row('email')).toContain('In doubt: try 2 of');
    expect(row('email')).toContain(`its lease ran out ${formatTime(emailSince)}`);
    expect(row('email')).toContain('its next run asks email&#39;s wasDone first');
    expect(row('crm')).toContain('crm has no wasDone');
    expect(row('sms')).toContain('<td class="state-dead">dead <span class="in-doubt">(in doubt)</span></td>');
  });

  // Last: it rewrites crm's registry entry.
  it('says what the next run does only as far as the workers told: a handler registered by an older worker is "unknown"', async () => {
    // As a worker that did not record `wasDone` wrote crm's entry.
    await d.redis.hset(handlerRegistryKey(d.prefix), 'crm', JSON.stringify({ events: crm.events }));
    const report = await opened!.ops.showEvent(sent.eventId);
    expect(report.handlers.find((h) => h.handler === 'crm')?.inDoubt).toMatchObject({ next: 'unknown' });
    expect(report.handlers.find((h) => h.handler === 'email')?.inDoubt).toMatchObject({ next: 'ask-was-done' });
  });
});
