import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError } from '@vouchflow/handler-kit';
import { createDeadLetterStore, type RedisDeadLetterStore } from '@vouchflow/pipeline';
import { Harness, delivery, settled, testHandler, waitForEvent } from './support.js';

let h: Harness;
let store: RedisDeadLetterStore;
let broken: boolean;

beforeEach(() => {
  h = new Harness();
  store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
  h.onClose(() => store.close());
  broken = true;
});
afterEach(async () => {
  await h.cleanup();
});

const fragile = (name: string) =>
  testHandler(name, () => {
    if (broken) throw new PermanentError(`${name} is down`);
  });

/** Three events dead-lettered by two handlers each, and one delivery that does not decode. */
async function makeDeadLetters(inlineFirstTry: boolean) {
  const worker = await h.start([fragile('email'), fragile('crm')], { inlineFirstTry });
  const emailFailed = waitForEvent(await h.events('email'), 'failed', undefined, { count: 3 });
  const crmFailed = waitForEvent(await h.events('crm'), 'failed', undefined, { count: 3 });
  const intakeFailed = waitForEvent(await h.events('intake'), 'failed');
  const events = [delivery(), delivery(), delivery({ type: 'voucher.loyalty_card.points_added' })];
  for (const d of events) await h.send(d);
  const bad = delivery({ mutate: (d) => delete d['event']['created_at'] });
  await h.send(bad);
  await Promise.all([emailFailed, crmFailed, intakeFailed]);
  return { events, bad, worker };
}

describe.each([
  ['first try inline', true],
  ['every unit queued', false],
])('dead-letter store (%s)', (_mode, inlineFirstTry) => {
  it('lists, counts and shows dead letters with filters, newest first', async () => {
    const { events, bad } = await makeDeadLetters(inlineFirstTry);
    expect(await store.count()).toBe(7);
    expect(await store.count({ handler: 'email' })).toBe(3);
    expect(await store.count({ eventType: 'voucher.loyalty_card.points_added' })).toBe(2);

    const all = await store.list();
    expect(all).toHaveLength(7);
    const times = all.map((d) => d.lastFailedAt);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(await store.list({ limit: 2 })).toEqual(all.slice(0, 2));
    expect(await store.list({ since: Date.now() + 60_000 })).toEqual([]);

    const decodeFailure = all.find((d) => d.handler === null)!;
    expect(decodeFailure).toMatchObject({ eventId: bad.eventId, id: `intake/ev-${bad.eventId}` });
    expect(decodeFailure.reason).toContain('event.created_at');

    const id = `handler-crm/ev-${events[0]!.eventId}-crm`;
    expect(await store.get(id)).toMatchObject({
      id,
      eventId: events[0]!.eventId,
      eventType: 'customer.voucher.loyalty_card.points_added',
      handler: 'crm',
      attempts: 1,
      reason: 'PermanentError: crm is down',
      delivery: events[0]!.body,
    });
    expect(await store.get('handler-crm/nope')).toBeUndefined();
    expect(await store.get('garbage')).toBeUndefined();
  });

  it('retries one entry with fresh attempts, all of a handler with progress, and purges', async () => {
    const { events, worker } = await makeDeadLetters(inlineFirstTry);
    broken = false;

    const one = settled(worker, 'email');
    const id = `handler-email/ev-${events[1]!.eventId}-email`;
    expect(await store.retry(id)).toBe(true);
    await one;
    expect(await store.get(id)).toBeUndefined();
    expect(await store.retry(id)).toBe(false);
    expect(await store.retry('handler-email/never-was')).toBe(false);

    const progress: Array<[number, number]> = [];
    const crmDone = settled(worker, 'crm', { count: 3 });
    expect(await store.retryAll({ handler: 'crm' }, (done, total) => progress.push([done, total]))).toBe(3);
    await crmDone;
    expect(progress.at(-1)).toEqual([3, 3]);
    expect(await store.count()).toBe(3);

    expect(await store.purge({ handler: 'email' })).toBe(2);
    expect(await store.count()).toBe(1);
    expect(await store.purge()).toBe(1);
    expect(await store.count()).toBe(0);
  });

  it('retryAll by event type; a decode failure goes back through intake', async () => {
    const { worker } = await makeDeadLetters(inlineFirstTry);
    broken = false;
    const emailDone = settled(worker, 'email');
    const crmDone = settled(worker, 'crm');
    expect(await store.retryAll({ eventType: 'voucher.loyalty_card.points_added' })).toBe(2);
    await Promise.all([emailDone, crmDone]);

    const [decodeFailure] = await store.list({ handler: undefined, eventType: undefined }).then((l) => l.filter((d) => d.handler === null));
    const intakeFailed = waitForEvent(await h.events('intake'), 'failed');
    expect(await store.retry(decodeFailure!.id)).toBe(true);
    await intakeFailed; // decoded again, and still does not decode
    expect(await store.get(decodeFailure!.id)).toMatchObject({ attempts: 1, handler: null });
  });
});
