import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import { handlerQueueName } from '@vouchflow/core';
import { permanentFailureKey } from '@vouchflow/pipeline';
import { PermanentError, type AnyHandler } from '@vouchflow/handler-kit';
import { createAdminApp } from '../src/admin/app.js';
import { loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import type { DeadLetterEntry, EventReport } from '../src/operations.js';
import { Deployment, delivery, jsonOf, quietLogger, runOps, undecodable, waitForEvents } from './support.js';

const TOKEN = 'admin-token-for-tests-0123456789';

/** A PermanentError of a plugin's own, named its own way: the reason then does not say "PermanentError", only the recorded permanence tells. */
class ContactGoneError extends PermanentError {
  constructor(message: string) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'ContactGoneError' });
  }
}

/**
 * A CRM that is down (503, out of attempts: retryable) for some events and has
 * lost the contact of others (404, a PermanentError: a retry cannot help), and
 * a delivery that does not decode (failed for good too).
 */
function crmHandler(gone: ReadonlySet<string>): AnyHandler & { up: boolean; runs: string[] } {
  const h = {
    name: 'crm',
    events: ['customer.voucher.loyalty_card.points_added'],
    up: false,
    runs: [] as string[],
    async handle(event: { event: { id: string } }) {
      if (!h.up) {
        if (gone.has(event.event.id)) throw new ContactGoneError('HubSpot answered 404 Not Found: contact gone');
        throw new Error('HubSpot answered 503 Service Unavailable');
      }
      h.runs.push(event.event.id);
    },
  };
  return h;
}

describe('dlq filters: --reason and --retryable-only', { timeout: 90_000 }, () => {
  const d = new Deployment();
  const down = [delivery(), delivery(), delivery()];
  const gone = [delivery(), delivery()];
  const bad = undecodable();
  const crm = crmHandler(new Set(gone.map((g) => g.eventId)));
  let crmEvents: QueueEvents;
  let opened: OpenedOperations;
  let server: Server;
  let base: string;
  const ops = (...args: string[]) => runOps(args, d.env);
  const api = (path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const ids = (entries: readonly DeadLetterEntry[]) => entries.map((e) => e.eventId).sort();

  beforeAll(async () => {
    // Both paths record permanence: first tries inline, later tries from the handler's queue.
    await d.start([crm], { inlineFirstTry: true, maxAttempts: 3, backoffMs: 10 });
    crmEvents = await d.events('crm');
    const intakeEvents = await d.events('intake');
    const settled = Promise.all([
      // BullMQ's `failed` event comes at the last failure only: once per dead letter.
      waitForEvents(crmEvents, 'failed', undefined, { count: down.length + gone.length }),
      waitForEvents(intakeEvents, 'failed'),
    ]);
    for (const s of [...down, ...gone, bad]) await d.send(s);
    await settled;
    opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-dlq-filters-test' });
    server = createServer(createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger() }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await opened?.close();
    await d.cleanup();
  });

  it('every entry says whether it failed for good; --retryable-only leaves those out', async () => {
    const [all, retryable, table] = await Promise.all([
      ops('dlq', 'list', '--json'),
      ops('dlq', 'list', '--retryable-only', '--json'),
      ops('dlq', 'list', '--handler', 'crm'),
    ]);
    const entries = jsonOf<DeadLetterEntry[]>(all);
    expect(entries).toHaveLength(down.length + gone.length + 1);
    const permanentOf = Object.fromEntries(entries.map((e) => [e.eventId, e.permanent]));
    for (const s of down) expect(permanentOf[s.eventId]).toBe(false);
    for (const s of gone) expect(permanentOf[s.eventId]).toBe(true);
    expect(permanentOf[bad.eventId]).toBe(true);
    // The 503s used up their attempts; the 404s died at their first.
    expect(entries.find((e) => e.eventId === down[0]!.eventId)).toMatchObject({ attempts: 3, reason: expect.stringContaining('503') });
    expect(entries.find((e) => e.eventId === gone[0]!.eventId)).toMatchObject({ attempts: 1, reason: expect.stringContaining('404') });
    expect(ids(jsonOf<DeadLetterEntry[]>(retryable))).toEqual(down.map((s) => s.eventId).sort());
    expect(table.stdout).toContain('1 (for good)');
  });

  it('--reason matches part of the failure reason in any case, and combines with the other filters', async () => {
    const [unavailable, notFound, none, bothFilters, decode] = await Promise.all([
      ops('dlq', 'list', '--reason', 'SERVICE unavailable', '--json'),
      ops('dlq', 'list', '--reason', '404', '--handler', 'crm', '--json'),
      ops('dlq', 'list', '--reason', 'no such text', '--json'),
      ops('dlq', 'list', '--reason', '404', '--retryable-only', '--json'),
      ops('dlq', 'list', '--decode-failures', '--retryable-only', '--json'),
    ]);
    expect(ids(jsonOf(unavailable))).toEqual(down.map((s) => s.eventId).sort());
    expect(ids(jsonOf(notFound))).toEqual(gone.map((s) => s.eventId).sort());
    expect(jsonOf(none)).toEqual([]);
    expect(jsonOf(bothFilters)).toEqual([]);
    expect(jsonOf(decode)).toEqual([]);
  });

  it('the admin API takes the same filters as query and body parameters', async () => {
    const [retryable, byReason, badFlag] = await Promise.all([
      api('/api/dead-letters?retryableOnly=true'),
      api('/api/dead-letters?reason=contact%20GONE'),
      api('/api/dead-letters?retryableOnly=maybe'),
    ]);
    expect(ids((await retryable.json()) as DeadLetterEntry[])).toEqual(down.map((s) => s.eventId).sort());
    expect(ids((await byReason.json()) as DeadLetterEntry[])).toEqual(gone.map((s) => s.eventId).sort());
    expect(badFlag.status).toBe(400);
    expect(await badFlag.json()).toEqual({ error: { kind: 'usage', message: 'retryableOnly: expected true or false' } });
    const count = await api('/api/dead-letters/count?retryableOnly=true&handler=crm');
    expect(await count.json()).toMatchObject({ count: down.length });
  });

  it('dlq retry --all --retryable-only sends back the 503s only; the API retries the 404s by reason, clearing their mark', async () => {
    crm.up = true;
    const completed = waitForEvents(crmEvents, 'completed', undefined, { count: down.length });
    const run = await ops('dlq', 'retry', '--all', '--handler', 'crm', '--retryable-only');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Retried ${down.length} dead letters (handler crm, retryable only).`);
    await completed;
    const left = await opened.ops.listDeadLetters();
    expect(ids(left)).toEqual([...gone.map((s) => s.eventId), bad.eventId].sort());

    const refused = await ops('dlq', 'retry', '--reason', '404');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--reason / --retryable-only');

    const completedGone = waitForEvents(crmEvents, 'completed', undefined, { count: gone.length });
    const res = await api('/api/dead-letters/retry', { all: true, handler: 'crm', reason: 'not found' });
    expect(await res.json()).toEqual({ retried: gone.length });
    await completedGone;
    expect(ids(await opened.ops.listDeadLetters())).toEqual([bad.eventId]);
    // A retry forgets that the unit had failed for good: should it fail again, it is judged afresh.
    expect(await d.redis.hlen(permanentFailureKey(d.prefix, handlerQueueName('crm')))).toBe(0);
  });

  it('delivery is the same object in dlq list, dlq show, events show and the API', async () => {
    const [entry] = jsonOf<DeadLetterEntry[]>(await ops('dlq', 'list', '--decode-failures', '--json'));
    expect(entry).toBeDefined();
    const [shown, event, viaApi, oneViaApi] = await Promise.all([
      ops('dlq', 'show', entry!.id, '--json'),
      ops('events', 'show', bad.eventId, '--json'),
      api('/api/dead-letters?decodeFailures=true'),
      api(`/api/dead-letters/${entry!.id}`),
    ]);
    const expected = JSON.parse(bad.body) as unknown;
    expect(typeof entry!.delivery).toBe('object');
    expect(entry!.delivery).toEqual(expected);
    expect(jsonOf<DeadLetterEntry>(shown).delivery).toEqual(expected);
    const report = jsonOf<EventReport>(event);
    expect(report.delivery).toEqual(expected);
    expect(report.deadLetters[0]!.delivery).toEqual(expected);
    expect(((await viaApi.json()) as DeadLetterEntry[])[0]!.delivery).toEqual(expected);
    expect(((await oneViaApi.json()) as DeadLetterEntry).delivery).toEqual(expected);
  });
});
