/*
 * A unit's claim held by its run: renewed under a slow handler, kept by a
 * handler that ignores its signal, and written only by its holder.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeUnitRecord, onceKey } from '@vouchflow/pipeline';
import type { RunningWorker } from '../src/create-worker.js';
import { Harness, delivery, settled, testHandler, waitForEvent } from './support.js';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

const LEASE_MS = 1000;

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

async function metric(worker: RunningWorker, name: string, handler: string): Promise<number> {
  const values = (await worker.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => v.labels['handler'] === handler).reduce((sum, v) => sum + v.value, 0);
}

describe('units and their claims', () => {
  it('makes a twin that arrives while a slow sibling runs wait, past the lease, and then skip', async () => {
    const slow = gate();
    const email = testHandler('email', () => slow.wait, { concurrency: 10 });
    const worker = await h.start([email], { lockDurationMs: LEASE_MS });
    const events = await h.events('email');
    const first = delivery({ transactionId: 'vtx_twin_slow' });
    const twin = delivery({ transactionId: 'vtx_twin_slow', type: 'voucher.loyalty_card.points_added' });
    const both = settled(worker, 'email', { count: 2 });
    await h.send(first);
    await h.send(twin);
    // The twin finds the claim taken, three times in a row: over three leases, the claim was renewed.
    await waitForEvent(events, 'delayed', () => true, { count: 3 });
    expect(email.calls).toHaveLength(1);
    const record = decodeUnitRecord(await h.redis.hget(onceKey(h.prefix, 'vtx_twin_slow'), 'email'), 'email');
    // Still running after three leases: its run renewed it.
    expect(record).toMatchObject({ state: 'running', owner: `ev-${first.eventId}-email`, attempt: 1 });
    slow.open();
    const results = await both;
    expect(email.calls).toHaveLength(1);
    expect(results.map((r) => r.result)).toContainEqual({ skipped: expect.stringContaining(`ev-${first.eventId}-email`) as string });
  });

  it('does not run a handler that ignores its signal again, nor another unit in its permit, until it settles', async () => {
    const stuck = gate();
    const stubborn = testHandler(
      'stubborn',
      async (_ctx, call) => {
        // Ignores ctx.signal: keeps working past its timeout.
        if (call === 1) await stuck.wait;
      },
      { timeoutMs: 100, concurrency: 1 },
    );
    const worker = await h.start([stubborn], { lockDurationMs: LEASE_MS, backoffMs: 10 });
    const unitEvents = await h.events('stubborn');
    const intakeEvents = await h.events('intake');
    const first = delivery({ transactionId: 'vtx_stubborn_1' });
    const second = delivery({ transactionId: 'vtx_stubborn_2' });
    // Timed out, its retry is a job: taken, it waits for the only permit, which the overrunning run keeps.
    const retryTaken = waitForEvent(unitEvents, 'active', (e) => e.jobId === `ev-${first.eventId}-stubborn`);
    await h.send(first);
    await retryTaken;
    const secondTaken = waitForEvent(intakeEvents, 'active', (e) => e.jobId === `ev-${second.eventId}`);
    await h.send(second);
    await secondTaken;
    // Give a wrong implementation the time to run either of them (the right one never does, however long).
    await new Promise((r) => setTimeout(r, 500));
    expect(stubborn.calls.map((c) => c.eventId)).toEqual([first.eventId]);
    expect(await metric(worker, 'vouchflow_handler_overruns_total', 'stubborn')).toBe(1);
    expect(decodeUnitRecord(await h.redis.hget(onceKey(h.prefix, 'vtx_stubborn_1'), 'stubborn'), 'stubborn')).toMatchObject({
      state: 'running',
    });
    const all = settled(worker, 'stubborn', { count: 2 });
    stuck.open();
    const results = await all;
    // It finished its effect after all: recorded done, so its retry skips it; the second ran once.
    expect(stubborn.calls.map((c) => c.eventId)).toEqual([first.eventId, second.eventId]);
    expect(results.map((r) => r.result)).toContainEqual({ skipped: expect.stringContaining(`ev-${first.eventId}-stubborn`) as string });
    expect(decodeUnitRecord(await h.redis.hget(onceKey(h.prefix, 'vtx_stubborn_1'), 'stubborn'), 'stubborn')).toMatchObject({
      state: 'done',
      owner: `ev-${first.eventId}-stubborn`,
    });
  });

  it('writes nothing for a run that lost its claim, and counts it', async () => {
    const running = gate();
    const hold = gate();
    const email = testHandler('email', async () => {
      running.open();
      await hold.wait;
    });
    const worker = await h.start([email], { lockDurationMs: LEASE_MS });
    const d = delivery({ transactionId: 'vtx_lost' });
    const key = onceKey(h.prefix, 'vtx_lost');
    const done = settled(worker, 'email');
    await h.send(d);
    await running.wait;
    // As if this run's lease had lapsed (a frozen process) and another run had claimed the fact since.
    const theirs = `r:ev-other-email:t0:1:${Math.ceil(Date.now() / 1000) + 60}`;
    await h.redis.hset(key, 'email', theirs);
    hold.open();
    await done;
    expect(await h.redis.hget(key, 'email')).toBe(theirs);
    expect(await metric(worker, 'vouchflow_claims_lost_total', 'email')).toBe(1);
    expect(email.calls).toHaveLength(1);
  });
});
