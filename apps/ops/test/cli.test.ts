import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import { handlerJobId, openHandlerQueue, type DeadLetter } from '@vouchflow/pipeline';
import type { RedisMemoryReport } from '@vouchflow/core';
import type { EventReport, QueueStats, ReplayResult } from '../src/operations.js';
import { Deployment, delivery, jsonOf, runOps, switchableHandler, undecodable, waitForEvents } from './support.js';

/*
 * Every `pnpm ops` command as a real process, against real dead letters: a
 * CRM handler that fails permanently while "down", an email handler that
 * works, and a delivery that does not decode. The worker runs first tries
 * inline, as the worker app does by default (INLINE_FIRST_TRY): the emails
 * succeed inside their intake jobs and leave no job of their own.
 */
// Each test runs `pnpm ops` as real processes, up to eight at once: on a busy 2-core CI machine
// starting them alone takes longer than vitest's default 30 s.
describe('pnpm ops against a deployment with dead letters', { timeout: 90_000 }, () => {
  const d = new Deployment();
  const email = switchableHandler('email');
  const crm = switchableHandler('crm');
  const sent = [delivery(), delivery(), delivery()];
  const bad = undecodable();
  let crmEvents: QueueEvents;
  let emailEvents: QueueEvents;
  const ops = (...args: string[]) => runOps(args, d.env);

  beforeAll(async () => {
    crm.down = true;
    await d.start([email, crm], { inlineFirstTry: true });
    crmEvents = await d.events('crm');
    emailEvents = await d.events('email');
    const intakeEvents = await d.events('intake');
    // An intake job completes once its units' first tries have run and the failed ones are queued.
    const settled = Promise.all([
      waitForEvents(crmEvents, 'failed', undefined, { count: sent.length }),
      waitForEvents(intakeEvents, 'completed', undefined, { count: sent.length }),
      waitForEvents(intakeEvents, 'failed'),
    ]);
    for (const s of [...sent, bad]) await d.send(s);
    await settled;
  }, 60_000);

  afterAll(async () => {
    await d.cleanup();
  });

  it('stats: a table by default, every count with --json', async () => {
    const [table, json] = await Promise.all([ops('stats'), ops('stats', '--json')]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /queue\s+│\s+waiting\s+│\s+active\s+│\s+delayed\s+│\s+jobs completed\s+│\s+units done\s+│\s+failed\s+│\s+dead/,
    );
    expect(table.stdout).toContain('units done: every unit done since the start, first tries run inline included');
    expect(table.stdout).toContain('handler-crm');
    expect(json.code).toBe(0);
    const { queues: rows, redis } = jsonOf<{ queues: QueueStats[]; redis: RedisMemoryReport }>(json);
    expect(redis.usedMemory).toBeGreaterThan(0);
    expect(redis).toHaveProperty('maxmemory');
    expect(redis).toHaveProperty('bytesPerEvent');
    expect(table.stdout).toMatch(/Redis: [\d.]+ MiB used/);
    const by = Object.fromEntries(rows.map((r) => [r.queue, r]));
    expect(by['intake']).toMatchObject({
      handler: null,
      paused: false,
      // Completed intake jobs are removed at once; `done` counts the deliveries processed.
      completed: 0,
      done: sent.length,
      dead: 1,
      waiting: 0,
      active: 0,
    });
    expect(by['handler-crm']).toMatchObject({ handler: 'crm', dead: sent.length, failed: sent.length, completed: 0, done: 0 });
    // Emails that succeeded inline left no job to count as completed; `done` counts them.
    expect(by['handler-email']).toMatchObject({ handler: 'email', dead: 0, failed: 0, completed: 0, done: sent.length });
  });

  it('dlq list: ids, events, handler, attempts and reason; filters; --json', async () => {
    const [table, all, onlyCrm, otherType, limited, recent] = await Promise.all([
      ops('dlq', 'list'),
      ops('dlq', 'list', '--json'),
      ops('dlq', 'list', '--handler', 'crm', '--json'),
      ops('dlq', 'list', '--event-type', 'voucher.published', '--json'),
      ops('dlq', 'list', '--limit', '2', '--json'),
      ops('dlq', 'list', '--since', '1h', '--json'),
    ]);
    expect(table.code).toBe(0);
    for (const s of sent) expect(table.stdout).toContain(s.eventId);
    expect(table.stdout).toContain('(decode)');
    expect(table.stdout).toContain('crm is down: 400 Bad Request');

    const entries = jsonOf<DeadLetter[]>(all);
    expect(entries).toHaveLength(sent.length + 1);
    expect(entries.find((e) => e.handler === null)).toMatchObject({ eventId: bad.eventId, reason: expect.stringContaining('balance') });
    const crmEntries = jsonOf<DeadLetter[]>(onlyCrm);
    expect(crmEntries.map((e) => e.eventId).sort()).toEqual(sent.map((s) => s.eventId).sort());
    expect(crmEntries[0]).toMatchObject({ handler: 'crm', attempts: 1, eventType: 'customer.voucher.loyalty_card.points_added' });
    expect(crmEntries[0]!.lastFailedAt).toBeGreaterThanOrEqual(crmEntries[0]!.firstFailedAt);
    expect(jsonOf<DeadLetter[]>(otherType)).toEqual([]);
    expect(jsonOf<DeadLetter[]>(limited)).toHaveLength(2);
    expect(jsonOf<DeadLetter[]>(recent)).toHaveLength(sent.length + 1);
  });

  it('dlq list --event-id and --decode-failures: one event’s entries, intake’s entries', async () => {
    const eventId = sent[2]!.eventId;
    const [byEvent, decodeOnly, badByEvent, table, both] = await Promise.all([
      ops('dlq', 'list', '--event-id', eventId, '--json'),
      ops('dlq', 'list', '--decode-failures', '--json'),
      ops('dlq', 'list', '--event-id', bad.eventId, '--handler', 'crm', '--json'),
      ops('dlq', 'list', '--decode-failures'),
      ops('dlq', 'list', '--decode-failures', '--handler', 'crm'),
    ]);
    expect(jsonOf<DeadLetter[]>(byEvent).map((e) => [e.eventId, e.handler])).toEqual([[eventId, 'crm']]);
    expect(jsonOf<DeadLetter[]>(decodeOnly).map((e) => [e.eventId, e.handler])).toEqual([[bad.eventId, null]]);
    expect(jsonOf<DeadLetter[]>(badByEvent)).toEqual([]);
    expect(table.stdout).toContain('(decode)');
    expect(table.stdout).not.toContain('handler-crm/');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--decode-failures');
  });

  it('dlq show: the whole entry with the error and the delivery; exit 1 for an unknown id', async () => {
    const [entry] = jsonOf<DeadLetter[]>(await ops('dlq', 'list', '--handler', 'crm', '--limit', '1', '--json'));
    const [text, json, missing, missingJson] = await Promise.all([
      ops('dlq', 'show', entry!.id),
      ops('dlq', 'show', entry!.id, '--json'),
      ops('dlq', 'show', 'handler-crm/ev-nothing-crm'),
      ops('dlq', 'show', 'handler-crm/ev-nothing-crm', '--json'),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`id:            ${entry!.id}`);
    expect(text.stdout).toContain('PermanentError');
    expect(text.stdout).toContain(`"id": "${entry!.eventId}"`);
    expect(jsonOf<DeadLetter>(json)).toEqual(entry);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no dead letter with id handler-crm/ev-nothing-crm');
    expect(missingJson.code).toBe(1);
    expect(JSON.parse(missingJson.stderr)).toEqual({ error: { kind: 'not_found', message: expect.stringContaining('no dead letter') } });
  });

  it('events show: the delivery and where each handler stands', async () => {
    const eventId = sent[0]!.eventId;
    const [text, json, unknown, undecoded] = await Promise.all([
      ops('events', 'show', eventId),
      ops('events', 'show', eventId, '--json'),
      ops('events', 'show', 'evcus_never_seen'),
      ops('events', 'show', bad.eventId, '--json'),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/crm\s+│.*│\s+dead\s+│/);
    expect(text.stdout).toMatch(/email\s+│.*│\s+completed\s+│/);
    const report = jsonOf<EventReport>(json);
    expect(report).toMatchObject({ eventId, eventType: 'customer.voucher.loyalty_card.points_added', intake: { state: 'completed' } });
    expect(report.handlers.map((h) => [h.handler, h.state]).sort()).toEqual([
      ['crm', 'dead'],
      ['email', 'completed'],
    ]);
    // The email ran inline: no job, only its once-only record, which says this unit did it.
    expect(report.handlers.find((h) => h.handler === 'email')).toMatchObject({ jobId: handlerJobId(eventId, 'email'), reason: null });
    expect(report.deadLetters.map((dl) => dl.id)).toEqual([`handler-crm/${handlerJobId(eventId, 'crm')}`]);
    expect(report.delivery).toMatchObject({ event: { id: eventId } });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('nothing is kept about event evcus_never_seen');
    // A delivery that did not decode is found among intake's dead letters.
    expect(jsonOf<EventReport>(undecoded)).toMatchObject({
      eventId: bad.eventId,
      intake: { state: 'dead', reason: expect.stringContaining('balance') },
      handlers: [],
      deadLetters: [{ handler: null }],
    });
  });

  // Seven CLI processes start at once: on a loaded 2-core machine that alone can take over 30 s.
  it('refuses unclear or unsafe command lines with exit 2', async () => {
    const runs = await Promise.all([
      ops('dlq', 'retry'),
      ops('dlq', 'retry', 'some-id', '--all'),
      ops('dlq', 'retry', '--handler', 'crm'),
      ops('dlq', 'list', '--since', 'soon'),
      ops('dlq', 'list', '--limit', '0'),
      ops('no-such-command'),
      ops('dlq', 'purge'),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(runs[0].stderr).toContain('give the dead letter ids to retry, or --all');
    expect(runs[3].stderr).toContain('expected a duration such as 30m');
    expect(runs[6].stderr).toContain('refusing to purge without --yes: stdin is not a terminal');
    // Nothing was purged.
    expect(jsonOf<DeadLetter[]>(await ops('dlq', 'list', '--json'))).toHaveLength(sent.length + 1);
  }, 90_000);

  it('dlq retry <id>: back into processing with fresh attempts; exit 1 when an id is unknown', async () => {
    crm.down = false;
    const [entry] = jsonOf<DeadLetter[]>(await ops('dlq', 'list', '--handler', 'crm', '--limit', '1', '--json'));
    const jobId = entry!.id.slice('handler-crm/'.length);
    const done = waitForEvents<{ jobId: string }>(crmEvents, 'completed', (a) => a.jobId === jobId);
    const run = await ops('dlq', 'retry', entry!.id, 'handler-crm/ev-nothing-crm');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Retried 1 dead letter.');
    expect(run.stderr).toContain('Not found: handler-crm/ev-nothing-crm');
    await done;
    expect(crm.runs).toContain(entry!.eventId);
  });

  it('dlq retry --all --handler: every matching entry, the count at the end', async () => {
    const done = waitForEvents(crmEvents, 'completed', undefined, { count: sent.length - 1 });
    const run = await ops('dlq', 'retry', '--all', '--handler', 'crm', '--json');
    expect(run.code).toBe(0);
    expect(jsonOf(run)).toEqual({ retried: sent.length - 1 });
    await done;
    expect(crm.runs.sort()).toEqual(sent.map((s) => s.eventId).sort());
    const text = await ops('dlq', 'retry', '--all', '--handler', 'crm');
    expect(text.stdout).toContain('Retried 0 dead letters (handler crm).');
  });

  it('refuses a handler name the deployment never ran, everywhere, listing the real ones', async () => {
    const runs = await Promise.all([
      ops('dlq', 'list', '--handler', 'hubspot'),
      ops('dlq', 'retry', '--all', '--handler', 'hubspot'),
      ops('dlq', 'purge', '--yes', '--handler', 'hubspot', '--json'),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('no handler named hubspot (this deployment runs: crm, email)');
    }
  });

  it('replay: runs handlers that already succeeded again, with a fresh job', async () => {
    const eventId = sent[1]!.eventId;
    const emailRunsBefore = email.runs.filter((id: string) => id === eventId).length;
    // Listening before the command runs: the replay may complete before the process has exited.
    const replayed = waitForEvents<{ jobId: string }>(emailEvents, 'completed', (a) => a.jobId.startsWith('replay-'));
    const one = await ops('replay', eventId, '--handler', 'email', '--json');
    expect(one.code).toBe(0);
    const result = jsonOf<ReplayResult>(one);
    expect(result.jobs).toEqual([{ handler: 'email', jobId: expect.stringMatching(/^replay-/) }]);
    expect((await replayed)[0]!.jobId).toBe(result.jobs[0]!.jobId);
    expect(email.runs.filter((id: string) => id === eventId)).toHaveLength(emailRunsBefore + 1);
    // The email's unit ran inline, so there is no original job to copy options from: the worker's registered settings apply.
    const emailQueue = openHandlerQueue('email', { connection: d.redis, queuePrefix: d.prefix });
    try {
      expect(await emailQueue.getJob(handlerJobId(eventId, 'email'))).toBeUndefined();
      const replayJob = await emailQueue.getJob(result.jobs[0]!.jobId);
      expect(replayJob?.opts).toMatchObject({ attempts: 3, backoff: { delay: 10 } });
    } finally {
      await emailQueue.close();
    }

    const bothDone = Promise.all([
      waitForEvents(emailEvents, 'completed', (a: { jobId: string }) => a.jobId.startsWith('replay-')),
      waitForEvents(crmEvents, 'completed', (a: { jobId: string }) => a.jobId.startsWith('replay-')),
    ]);
    const refused = await ops('replay', eventId);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--all-handlers');
    const all = await ops('replay', eventId, '--all-handlers');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/Replaying event .*\n\s+(crm|email): job /);
    await bothDone;

    const report = jsonOf<EventReport>(await ops('events', 'show', eventId, '--json'));
    // The replay rewrote the email's once-only record; the original unit still reads as completed, not skipped.
    expect(report.handlers.find((h) => h.handler === 'email' && !h.replay)).toMatchObject({ state: 'completed', reason: null });
    expect(report.handlers.filter((h) => h.replay).map((h) => [h.handler, h.state])).toEqual(
      expect.arrayContaining([
        ['email', 'completed'],
        ['email', 'completed'],
        ['crm', 'completed'],
      ]),
    );

    const [unknownEvent, unknownHandler] = await Promise.all([
      ops('replay', 'evcus_never_seen', '--all-handlers'),
      ops('replay', eventId, '--handler', 'sms'),
    ]);
    expect(unknownEvent.code).toBe(1);
    expect(unknownEvent.stderr).toContain('no delivery of event evcus_never_seen is kept');
    expect(unknownHandler.code).toBe(1);
    expect(unknownHandler.stderr).toContain('no handler named sms');
  });

  it('dlq purge --yes: deletes what matches, the count at the end', async () => {
    const run = await ops('dlq', 'purge', '--yes', '--json');
    expect(run.code).toBe(0);
    expect(jsonOf(run)).toEqual({ purged: 1 });
    const [list, again] = await Promise.all([ops('dlq', 'list'), ops('dlq', 'purge', '--yes')]);
    expect(list.stdout).toContain('No dead letters match.');
    expect(again.stdout).toContain('Purged 0 dead letters.');
    const rows = jsonOf<{ queues: QueueStats[] }>(await ops('stats', '--json')).queues;
    expect(rows.map((r) => r.dead)).toEqual(rows.map(() => 0));
  });
});

describe('pnpm ops without Redis', () => {
  it('exits 1 with a message naming the Redis it tried', async () => {
    const run = await runOps(['stats'], { REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: 'nothing' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot reach Redis at redis://127.0.0.1:1');
  });

  it('exits 1 with a message naming a bad variable', async () => {
    const run = await runOps(['stats'], { REDIS_URL: 'http://example.com' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('REDIS_URL');
  });
});
