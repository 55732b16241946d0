/*
 * Units in doubt: an earlier run of the unit claimed it and never ended (its
 * process died after the effect, or before). The claim left behind is a real
 * one, taken by a records instance that then stops renewing, as a killed
 * process does; the worker's next claim takes it over and is told so.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeUnitRecord, handlerJobId, onceKey, unitRecordReader, unitRecords } from '@vouchflow/pipeline';
import type { AnyHandler, HandlerContext } from '@vouchflow/handler-kit';
import { runHandler } from '@vouchflow/handler-kit/testing';
import type { IntakeJobData } from '@vouchflow/pipeline';
import { createCrmHandler } from '@vouchflow/handlers';
import { startHubSpot, type HubSpotStandIn } from '@vouchflow/test-support';
import type { RunningWorker } from '../src/create-worker.js';
import { Harness, delivery, settled, testHandler } from './support.js';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

async function metric(worker: RunningWorker, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await worker.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
}

const inDoubt = (worker: RunningWorker, resolution: string, handler = 'email') =>
  metric(worker, 'vouchflow_units_in_doubt_total', { handler, resolution });

/** As a worker process killed during the unit's first run leaves it: claimed by its owner, then no renewal, the lease run out. */
async function leftByADeadProcess(d: IntakeJobData, transactionId: string, handler = 'email'): Promise<void> {
  const dead = unitRecords(h.redis, h.prefix, { leaseMs: 1000, keepMs: 60_000 });
  const claim = await dead.claim({
    key: onceKey(h.prefix, transactionId),
    owner: handlerJobId(d.eventId, handler),
    handler,
    attempt: 1,
  });
  if ('status' in claim) throw new Error('expected the claim granted');
  await dead.close();
  const reader = unitRecordReader(h.redis, h.prefix);
  while ((await reader.read(transactionId, handler))?.state === 'running') await new Promise((r) => setTimeout(r, 100));
  expect(await reader.read(transactionId, handler)).toMatchObject({
    state: 'in-doubt',
    owner: handlerJobId(d.eventId, handler),
    attempt: 1,
  });
}

/**
 * A delivery about `transactionId` whose unit of `handler` a killed worker left
 * in doubt (`before` plays what that run did downstream), sent to a fresh worker
 * running `handler`; resolves once that unit settles.
 */
async function sendInDoubt(handler: AnyHandler, transactionId: string, before?: (d: IntakeJobData) => Promise<void>) {
  const d = delivery({ transactionId });
  await before?.(d);
  await leftByADeadProcess(d, transactionId, handler.name);
  const worker = await h.start([handler]);
  const done = settled(worker, handler.name);
  await h.send(d);
  const [unit] = await done;
  return { d, worker, unit: unit! };
}

/** A `wasDone` that records its calls and answers `answer(call)`. */
function asking(answer: (call: number) => boolean | Promise<boolean>) {
  const calls: HandlerContext[] = [];
  const wasDone: NonNullable<AnyHandler['wasDone']> = async (_event, ctx) => {
    calls.push(ctx);
    return answer(calls.length);
  };
  return { calls, wasDone };
}

describe('a unit in doubt', () => {
  it('is recorded done without running when wasDone confirms the effect', async () => {
    const check = asking(() => true);
    const email = testHandler('email', undefined, { wasDone: check.wasDone });
    const { d, worker, unit } = await sendInDoubt(email, 'vtx_doubt_yes');
    expect(email.calls).toHaveLength(0);
    expect(check.calls).toHaveLength(1);
    expect(check.calls[0]).toMatchObject({ inDoubt: true, idempotencyKey: 'email:vtx_doubt_yes', attempt: 1 });
    expect(unit.result).toEqual({ skipped: expect.stringContaining('as wasDone confirmed') as string });
    expect(decodeUnitRecord(await h.redis.hget(onceKey(h.prefix, 'vtx_doubt_yes'), 'email'), 'email')).toMatchObject({
      state: 'done',
      owner: handlerJobId(d.eventId, 'email'),
    });
    expect(await inDoubt(worker, 'confirmed_done')).toBe(1);
    expect(await metric(worker, 'vouchflow_handler_skipped_total', { handler: 'email', reason: 'confirmed_done' })).toBe(1);
    expect(await metric(worker, 'vouchflow_handler_completed_total', { handler: 'email' })).toBe(0);
  });

  it('runs once when wasDone finds no effect, telling the handler it is in doubt', async () => {
    const check = asking(() => false);
    const email = testHandler('email', undefined, { wasDone: check.wasDone });
    const { worker, unit } = await sendInDoubt(email, 'vtx_doubt_no');
    expect(check.calls).toHaveLength(1);
    expect(email.calls).toHaveLength(1);
    expect(email.calls[0]!.ctx.inDoubt).toBe(true);
    expect(unit.result).toEqual({ done: true });
    expect(decodeUnitRecord(await h.redis.hget(onceKey(h.prefix, 'vtx_doubt_no'), 'email'), 'email')).toMatchObject({ state: 'done' });
    expect(await inDoubt(worker, 'ran_again')).toBe(1);
    expect(await inDoubt(worker, 'confirmed_done')).toBe(0);
  });

  it('runs again, told by ctx.inDoubt, when its handler has no wasDone', async () => {
    const email = testHandler('email');
    const { worker } = await sendInDoubt(email, 'vtx_doubt_unchecked');
    expect(email.calls).toHaveLength(1);
    expect(email.calls[0]!.ctx.inDoubt).toBe(true);
    expect(await inDoubt(worker, 'ran_unchecked')).toBe(1);
  });

  it('is not run when wasDone fails: a failed try, still in doubt, so its retry asks again', async () => {
    const check = asking((call) => {
      if (call === 1) throw new Error('downstream lookup failed');
      return true;
    });
    const email = testHandler('email', undefined, { wasDone: check.wasDone });
    const { worker, unit } = await sendInDoubt(email, 'vtx_doubt_fails');
    expect(email.calls).toHaveLength(0);
    expect(check.calls.map((c) => [c.attempt, c.inDoubt])).toEqual([
      [1, true],
      [2, true],
    ]);
    expect(unit.result).toEqual({ skipped: expect.stringContaining('as wasDone confirmed') as string });
    expect(await inDoubt(worker, 'check_failed')).toBe(1);
    expect(await inDoubt(worker, 'confirmed_done')).toBe(1);
    expect(await metric(worker, 'vouchflow_handler_failed_total', { handler: 'email' })).toBe(1);
  });
});

describe('a unit not in doubt', () => {
  it('never asks wasDone: not on a first run, nor on the retry after a clean failure', async () => {
    const check = asking(() => true);
    const email = testHandler(
      'email',
      (ctx) => {
        if (ctx.idempotencyKey === 'email:vtx_clean_fail' && ctx.attempt === 1) throw new Error('downstream 503');
      },
      { wasDone: check.wasDone },
    );
    const worker = await h.start([email]);
    const both = settled(worker, 'email', { count: 2 });
    await h.send(delivery({ transactionId: 'vtx_clean_first' }));
    await h.send(delivery({ transactionId: 'vtx_clean_fail' }));
    await both;
    expect(check.calls).toHaveLength(0);
    expect(email.calls.map((c) => [c.ctx.idempotencyKey, c.ctx.attempt, c.ctx.inDoubt]).sort()).toEqual([
      ['email:vtx_clean_fail', 1, false],
      ['email:vtx_clean_fail', 2, false],
      ['email:vtx_clean_first', 1, false],
    ]);
    expect(await metric(worker, 'vouchflow_units_in_doubt_total', { handler: 'email' })).toBe(0);
  });
});

describe('the crm handler, in doubt', () => {
  let hub: HubSpotStandIn;
  beforeEach(async () => {
    hub = await startHubSpot();
    h.onClose(() => hub.close());
  });
  const crm = () =>
    createCrmHandler({ baseUrl: hub.url, token: 't', idProperty: 'voucherify_customer_id', redis: h.redis, queuePrefix: h.prefix });

  /** The HubSpot side of the run that died: the crm handler's own upsert, ending as `ending` says. */
  async function deadRunsUpsert(d: IntakeJobData, ending: 'dropped-after-applying' | 'dropped'): Promise<void> {
    hub.upsertEnding = ending;
    expect((await runHandler(crm(), JSON.parse(d.body))).status).toBe('failed');
    hub.upsertEnding = 'answered';
  }

  it('died after HubSpot took the upsert: confirmed from the contact, recorded done, no second upsert', async () => {
    const { worker, unit } = await sendInDoubt(crm(), 'vtx_crm_doubt_yes', (d) => deadRunsUpsert(d, 'dropped-after-applying'));
    expect(unit.result).toEqual({ skipped: expect.stringContaining('as wasDone confirmed') as string });
    expect(hub.upserts()).toHaveLength(1);
    expect(hub.reads()).toHaveLength(1);
    expect(await inDoubt(worker, 'confirmed_done', 'crm')).toBe(1);
    expect(decodeUnitRecord(await h.redis.hget(onceKey(h.prefix, 'vtx_crm_doubt_yes'), 'crm'), 'crm')).toMatchObject({ state: 'done' });
  });

  it('died before HubSpot took it: wasDone finds no contact, the upsert runs once', async () => {
    const { worker, unit } = await sendInDoubt(crm(), 'vtx_crm_doubt_no', (d) => deadRunsUpsert(d, 'dropped'));
    expect(unit.result).toEqual({ done: true });
    expect(hub.reads()).toHaveLength(1);
    expect(hub.upserts()).toHaveLength(2);
    expect(hub.contacts.get('cust_2p0TvCOvB25HWUrW9JFf4czJ')).toMatchObject({ loyalty_points_balance: '2641' });
    expect(await inDoubt(worker, 'ran_again', 'crm')).toBe(1);
  });
});
