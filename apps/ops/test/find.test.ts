import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '@vouchflow/core';
import { PermanentError, RetryLaterError, type AnyHandler } from '@vouchflow/handler-kit';
import type { IntakeJobData } from '@vouchflow/pipeline';
import { createAdminApp } from '../src/admin/app.js';
import { loadCliConfig } from '../src/config.js';
import type { FoundEvent } from '../src/find-events.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import type { EventReport } from '../src/operations.js';
import { Deployment, jsonOf, quietLogger, ROOT, runOps, waitForEvents } from './support.js';

/*
 * `pnpm ops events find` and `GET /api/events` through the real worker
 * processing Voucherify's own example deliveries (packages/schema/fixtures/spec):
 * the worker indexes each at intake; the CLI finds them by customer id, source
 * id, e-mail in any case, voucher code and transaction, with every handler's
 * outcome: done, dead, and delayed with its reason and next run time.
 */

const TOKEN = 'admin-token-for-tests-0123456789';

const spec = (type: string): IntakeJobData => {
  const body = readFileSync(resolve(ROOT, 'packages/schema/fixtures/spec', `${type}.json`), 'utf8');
  const parsed = JSON.parse(body) as { event: { id: string; type: string } };
  return { body, eventId: parsed.event.id, eventType: parsed.event.type, receivedAt: Date.now() };
};

const LIONEL = { id: 'cust_7LvqCsUB9c8WyFP8JaLXchtF', source: 'lionel-johnson', email: 'lionel-johnson@lion.io' };
const POINTS_EXPIRED = { code: 'vyOsbgzj', transaction: 'vtx_0f0764c45fd232ef8e', email: 'lukasz.kulig@voucherify.io' };

describe('events find', { timeout: 90_000 }, () => {
  const d = new Deployment();
  const created = spec('customer.created');
  const expired = spec('voucher.loyalty_card.points_expired');
  const added = spec('customer.voucher.loyalty_card.points_added');
  const email: AnyHandler = { name: 'email', events: ['*'], handle: async () => {} };
  const crm: AnyHandler = {
    name: 'crm',
    events: ['customer.created', 'voucher.loyalty_card.points_expired'],
    handle: async (event: { event: { type: string } }) => {
      if (event.event.type === 'customer.created') throw new PermanentError('CRM answered 400 Bad Request');
      throw new RetryLaterError('CRM rate limit (429)', { delayMs: 10 * MINUTE });
    },
  } as AnyHandler;
  const ops = (...args: string[]) => runOps(args, d.env);
  let opened: OpenedOperations;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    await d.start([email, crm], { inlineFirstTry: true });
    const intakeEvents = await d.events('intake');
    const crmEvents = await d.events('crm');
    const settled = Promise.all([
      waitForEvents(intakeEvents, 'completed', undefined, { count: 3 }),
      waitForEvents(crmEvents, 'failed', (a) => a.jobId.includes(created.eventId)),
    ]);
    // Oldest first, a millisecond apart at least, so newest-first order is defined.
    for (const sent of [created, added, expired]) {
      await d.send({ ...sent, receivedAt: Date.now() });
      await new Promise((r) => setImmediate(r));
    }
    await settled;
    opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-find-test' });
    server = createServer(createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger() }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    if (server) await new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections()));
    await opened?.close();
    await d.cleanup();
  });

  it('finds a customer by id, source id and e-mail in any case, with each handler’s outcome', async () => {
    const runs = await Promise.all([
      ops('events', 'find', '--customer', LIONEL.id, '--json'),
      ops('events', 'find', '--customer', LIONEL.source, '--json'),
      ops('events', 'find', '--customer', 'Lionel-Johnson@LION.io', '--json'),
    ]);
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      const rows = jsonOf<FoundEvent[]>(run);
      expect(rows.map((r) => r.eventId)).toEqual([created.eventId]);
      const [row] = rows;
      expect(row).toMatchObject({ eventType: 'customer.created', source: 'redis', receivedAt: expect.any(Number) });
      const by = Object.fromEntries(row!.handlers.map((h) => [h.handler, h]));
      expect(by['email']).toMatchObject({ outcome: 'done', attempts: 1 });
      expect(by['crm']).toMatchObject({ outcome: 'dead' });
      expect(by['crm']!.reason).toContain('CRM answered 400 Bad Request');
    }
  });

  it('prints a table: when, which event, and each handler’s outcome on a line', async () => {
    const run = await ops('events', 'find', '--customer', LIONEL.email);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/received\s+│\s+event id\s+│\s+event type\s+│\s+handlers/);
    expect(run.stdout).toContain(created.eventId);
    expect(run.stdout).toMatch(/email: done \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    expect(run.stdout).toMatch(/crm: dead \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(PermanentError: CRM answered 400 Bad Request\)/);
  });

  it('finds by voucher code and by transaction: a delayed unit says why, and when it runs next', async () => {
    const [byCode, byTransaction, byEmail] = await Promise.all([
      ops('events', 'find', '--code', POINTS_EXPIRED.code, '--json'),
      ops('events', 'find', '--transaction', POINTS_EXPIRED.transaction, '--json'),
      ops('events', 'find', '--customer', POINTS_EXPIRED.email.toUpperCase()),
    ]);
    for (const run of [byCode, byTransaction]) {
      expect(run.code, run.stderr).toBe(0);
      const rows = jsonOf<FoundEvent[]>(run);
      expect(rows.map((r) => r.eventId)).toEqual([expired.eventId]);
      const crmOutcome = rows[0]!.handlers.find((h) => h.handler === 'crm')!;
      expect(crmOutcome).toMatchObject({ outcome: 'delayed', reason: 'CRM rate limit (429)' });
      expect(crmOutcome.nextRunAt).toBeGreaterThan(Date.now() + 8 * MINUTE);
    }
    expect(byEmail.code, byEmail.stderr).toBe(0);
    expect(byEmail.stdout).toMatch(/crm: delayed until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(CRM rate limit \(429\)\)/);
  });

  it('events show gives a delayed unit its reason and next run time', async () => {
    const [table, json] = await Promise.all([ops('events', 'show', expired.eventId), ops('events', 'show', expired.eventId, '--json')]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/next run/);
    expect(table.stdout).toMatch(/delayed\s+│\s+\d+\s+│\s+-\s+│\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+│\s+CRM rate limit \(429\)/);
    const report = jsonOf<EventReport>(json);
    const crmWork = report.handlers.find((h) => h.handler === 'crm')!;
    expect(crmWork).toMatchObject({ state: 'delayed', reason: 'CRM rate limit (429)', jobId: expect.stringContaining('crm') });
    expect(crmWork.nextRunAt).toBeGreaterThan(Date.now() + 8 * MINUTE);
  });

  it('lists newest first, and --since and --limit narrow it', async () => {
    const customer = 'cust_2p0TvCOvB25HWUrW9JFf4czJ';
    const all = jsonOf<FoundEvent[]>(await ops('events', 'find', '--customer', customer, '--json'));
    expect(all.map((r) => r.eventId)).toEqual([added.eventId]);
    const none = await ops('events', 'find', '--customer', customer, '--since', String(Date.now() + MINUTE), '--json');
    expect(jsonOf<FoundEvent[]>(none)).toEqual([]);
    const api = await fetch(`${base}/api/events?customer=${encodeURIComponent(LIONEL.source)}&limit=5`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(api.status).toBe(200);
    expect(((await api.json()) as FoundEvent[]).map((r) => r.eventId)).toEqual([created.eventId]);
    const noMatch = await ops('events', 'find', '--code', 'NO-SUCH-CODE');
    expect(noMatch.code).toBe(0);
    expect(noMatch.stdout).toContain('No events found');
  });

  it('refuses a look-up for nothing or for several things: exit 2, and 400 from the API', async () => {
    const [nothing, two, empty] = await Promise.all([
      ops('events', 'find'),
      ops('events', 'find', '--customer', LIONEL.id, '--code', 'X', '--json'),
      ops('events', 'find', '--customer', ' '),
    ]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('give exactly one of customer');
    expect(two.code).toBe(2);
    expect(JSON.parse(two.stderr)).toMatchObject({ error: { kind: 'usage' } });
    expect(empty.code).toBe(2);
    const get = (query: string) => fetch(`${base}/api/events${query}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    for (const query of ['', '?customer=', '?customer=a&code=b', '?who=alex', '?customer=a&customer=b', '?code=x&limit=0']) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      expect(await res.json()).toMatchObject({ error: { kind: 'usage' } });
    }
  });
});
