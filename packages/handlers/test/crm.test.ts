import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { runHandler } from '@vouchflow/handler-kit/testing';
import { deletePrefix, startHubSpot, testRedisUrl, uniquePrefix, type HubSpotStandIn } from '@vouchflow/test-support';
import { createCrmHandler } from '@vouchflow/handlers';
import { json, startHttp, type TestHttp } from './support/http.js';
import { pointsAdded, pointsExpired, transactionCreated } from './support/deliveries.js';

const CUSTOMER = 'cust_2p0TvCOvB25HWUrW9JFf4czJ';
const ok = { status: 'COMPLETE', results: [{ id: '512', properties: {}, new: false }] };

let hubspot: TestHttp;
let redis: Redis;
const prefix = uniquePrefix('crm');

beforeAll(async () => {
  hubspot = await startHttp((_req, res) => json(res, 200, ok));
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  await hubspot.close();
  redis.disconnect();
  await deletePrefix(testRedisUrl(), prefix);
});
afterEach(async () => {
  hubspot.requests.length = 0;
  hubspot.respond = (_req, res) => json(res, 200, ok);
  await deletePrefix(testRedisUrl(), prefix);
});

const crm = (propertyNames?: Record<string, string>) =>
  createCrmHandler({
    baseUrl: hubspot.url,
    token: 'pat-na1-test',
    idProperty: 'voucherify_customer_id',
    propertyNames,
    redis,
    queuePrefix: prefix,
  });

const bodyOf = (i: number) => JSON.parse(hubspot.requests[i]!.body) as { inputs: Array<Record<string, unknown>> };

describe('crm (HubSpot)', () => {
  it('upserts the contact by the Voucherify customer id, with string values', async () => {
    const run = await runHandler(crm(), pointsAdded());
    expect(run.status).toBe('done');
    expect(hubspot.requests).toHaveLength(1);
    const req = hubspot.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/crm/v3/objects/contacts/batch/upsert');
    expect(req.headers['authorization']).toBe('Bearer pat-na1-test');
    expect(req.headers['content-type']).toBe('application/json');
    expect(bodyOf(0)).toEqual({
      inputs: [
        {
          idProperty: 'voucherify_customer_id',
          id: CUSTOMER,
          properties: {
            loyalty_points_balance: '2641',
            loyalty_points_total: '2641',
            loyalty_card_code: 'NK5iReoi',
            loyalty_last_transaction_type: 'POINTS_ADDITION',
            loyalty_last_transaction_at: '2024-03-11T15:27:44.884Z',
            loyalty_last_points_change: '40',
          },
        },
      ],
    });
  });

  it('writes the balance after expiry and uses renamed properties', async () => {
    await runHandler(crm({ balance: 'points', last_points_change: 'points_delta' }), pointsExpired());
    expect(bodyOf(0).inputs[0]!['properties']).toMatchObject({ points: '262', points_delta: '-70', loyalty_points_total: '992' });
  });

  it('never lets an older event overwrite a newer balance (newest arrives first)', async () => {
    const handler = crm();
    const newer = await runHandler(handler, pointsAdded({ at: '2024-03-11T16:00:00.000Z', balance: 3000 }));
    const older = await runHandler(handler, pointsAdded({ at: '2024-03-11T15:00:00.000Z', balance: 2600 }));
    expect(newer.status).toBe('done');
    expect(older.status).toBe('skipped');
    if (older.status === 'skipped') expect(older.skipped).toMatch(/older than the change already applied/);
    expect(hubspot.requests).toHaveLength(1);
    expect(bodyOf(0).inputs[0]!['properties']).toMatchObject({ loyalty_points_balance: '3000' });
    expect(await redis.get(`{${prefix}}:crm:applied:${CUSTOMER}`)).toBe(String(Date.parse('2024-03-11T16:00:00.000Z')));

    // The same change again (the project-level twin, a retry) is applied: it is not older.
    expect((await runHandler(handler, transactionCreated('2024-03-11T16:00:00.000Z', 3000))).status).toBe('done');
    // A later one goes through.
    expect((await runHandler(handler, pointsAdded({ at: '2024-03-11T17:00:00.000Z', balance: 3100 }))).status).toBe('done');
    expect(hubspot.requests).toHaveLength(3);
  });

  it('keeps the order under concurrency: the older of two simultaneous events never lands last', async () => {
    const handler = crm();
    hubspot.respond = (_req, res) => setTimeout(() => json(res, 200, ok), 30);
    const [a, b] = await Promise.all([
      runHandler(handler, pointsAdded({ at: '2024-03-11T18:00:00.000Z', balance: 5000 })),
      runHandler(handler, pointsAdded({ at: '2024-03-11T17:30:00.000Z', balance: 4000 })),
    ]);
    const balances = hubspot.requests.map(
      (_r, i) => (bodyOf(i).inputs[0]!['properties'] as Record<string, string>)['loyalty_points_balance'],
    );
    expect(balances.at(-1)).toBe('5000');
    expect(a.status).toBe('done');
    // The older one was applied before the newer or skipped after it, depending on who got the lock first.
    expect(['done', 'skipped']).toContain(b.status);
  });

  it('429: retries later after Retry-After, without recording the change', async () => {
    hubspot.respond = (_req, res) =>
      json(res, 429, { status: 'error', message: 'You have reached your secondly limit.' }, { 'retry-after': '7' });
    const run = await runHandler(crm(), pointsAdded());
    expect(run).toMatchObject({ status: 'failed', errorKind: 'retry-later', retryAfterMs: 7000 });
    expect(await redis.get(`{${prefix}}:crm:applied:${CUSTOMER}`)).toBeNull();
  });

  it('500: retried with backoff', async () => {
    hubspot.respond = (_req, res) => json(res, 500, { status: 'error', message: 'internal error' });
    const run = await runHandler(crm(), pointsAdded());
    expect(run).toMatchObject({ status: 'failed', errorKind: 'retryable' });
    if (run.status === 'failed') expect(run.error.message).toBe('HubSpot 500: internal error');
  });

  it('a network failure is retried', async () => {
    const down = createCrmHandler({
      baseUrl: 'http://127.0.0.1:1',
      token: 't',
      idProperty: 'voucherify_customer_id',
      redis,
      queuePrefix: prefix,
    });
    const run = await runHandler(down, pointsAdded());
    expect(run).toMatchObject({
      status: 'failed',
      errorKind: 'retryable',
      error: { message: expect.stringMatching(/HubSpot unreachable/) },
    });
  });

  it("400: permanent, with HubSpot's message", async () => {
    hubspot.respond = (_req, res) =>
      json(res, 400, {
        status: 'error',
        message: 'Property values were not valid: [{"name":"loyalty_points_balance","error":"PROPERTY_DOESNT_EXIST"}]',
        correlationId: 'abc',
        category: 'VALIDATION_ERROR',
      });
    const run = await runHandler(crm(), pointsAdded());
    expect(run).toMatchObject({ status: 'failed', errorKind: 'permanent' });
    if (run.status === 'failed')
      expect(run.error.message).toMatch(/HubSpot rejected the upsert \(400\): Property values were not valid.*PROPERTY_DOESNT_EXIST/);
  });

  it('207: an input HubSpot rejected inside the batch is permanent', async () => {
    hubspot.respond = (_req, res) =>
      json(res, 207, {
        status: 'COMPLETE',
        results: [],
        numErrors: 1,
        errors: [{ status: 'error', category: 'VALIDATION_ERROR', message: 'Property "loyalty_card_code" does not exist' }],
      });
    const run = await runHandler(crm(), pointsAdded());
    expect(run).toMatchObject({
      status: 'failed',
      errorKind: 'permanent',
      error: { message: expect.stringMatching(/207.*loyalty_card_code/) },
    });
  });

  it('skips an event that names no customer', async () => {
    const delivery = pointsAdded();
    delivery.data['customer'] = null;
    (delivery.data['voucher'] as Record<string, unknown>)['holder_id'] = null;
    const run = await runHandler(crm(), delivery);
    expect(run).toMatchObject({ status: 'skipped', skipped: 'the event names no customer' });
  });
});

/**
 * Asks `wasDone` alone, with the context `runHandler` builds for a unit in
 * doubt; `runHandler(…, { inDoubt: true })` would go on to `handle` after a false.
 */
async function askWasDone(handler: ReturnType<typeof createCrmHandler>, delivery: unknown) {
  let answer: boolean | undefined;
  const run = await runHandler(
    {
      name: handler.name,
      events: handler.events,
      timeoutMs: handler.timeoutMs,
      handle: async (event: never, ctx) => {
        answer = await handler.wasDone!(event, ctx);
      },
    },
    delivery,
    { inDoubt: true },
  );
  return { answer, run };
}

describe('crm in doubt: wasDone reads the contact back', () => {
  let hub: HubSpotStandIn;
  beforeEach(async () => {
    hub = await startHubSpot();
  });
  afterEach(async () => {
    await hub.close();
  });

  const inDoubt = () =>
    createCrmHandler({ baseUrl: hub.url, token: 'pat-na1-test', idProperty: 'voucherify_customer_id', redis, queuePrefix: prefix });
  const applied = () => redis.get(`{${prefix}}:crm:applied:${CUSTOMER}`);

  it('a run that died after HubSpot took the upsert: true, without writing again, and its change recorded', async () => {
    const handler = inDoubt();
    // The run that died: HubSpot applied the upsert, its answer never reached the run, nothing was recorded.
    hub.upsertEnding = 'dropped-after-applying';
    expect((await runHandler(handler, pointsAdded())).status).toBe('failed');
    expect(hub.contacts.get(CUSTOMER)).toMatchObject({ loyalty_points_balance: '2641' });
    expect(await applied()).toBeNull();
    hub.upsertEnding = 'answered';

    const { answer, run } = await askWasDone(handler, pointsAdded());
    expect(run.status).toBe('done');
    expect(answer).toBe(true);
    expect(hub.upserts()).toHaveLength(1);
    expect(hub.reads()).toHaveLength(1);
    const read = hub.reads()[0]!;
    expect(read.path).toBe(`/crm/v3/objects/contacts/${CUSTOMER}`);
    expect(read.query.get('idProperty')).toBe('voucherify_customer_id');
    expect(read.query.get('properties')!.split(',').sort()).toEqual([
      'loyalty_card_code',
      'loyalty_last_points_change',
      'loyalty_last_transaction_at',
      'loyalty_last_transaction_type',
      'loyalty_points_balance',
      'loyalty_points_total',
    ]);
    // Recorded as the dead run would have: an older change arriving now does not overwrite it.
    expect(await applied()).toBe(String(Date.parse('2024-03-11T15:27:44.884Z')));
    const older = await runHandler(handler, pointsAdded({ at: '2024-03-11T15:00:00.000Z', balance: 2600 }));
    expect(older.status).toBe('skipped');
    expect(hub.upserts()).toHaveLength(1);
  });

  it('a run that died before HubSpot took it: false, and the run that follows writes it', async () => {
    const handler = inDoubt();
    hub.upsertEnding = 'dropped';
    expect((await runHandler(handler, pointsAdded())).status).toBe('failed');
    expect(hub.contacts.has(CUSTOMER)).toBe(false);
    hub.upsertEnding = 'answered';

    const { answer } = await askWasDone(handler, pointsAdded());
    expect(answer).toBe(false);
    expect(await applied()).toBeNull();
    expect((await runHandler(handler, pointsAdded(), { inDoubt: true })).status).toBe('done');
    expect(hub.upserts()).toHaveLength(2);
    expect(hub.contacts.get(CUSTOMER)).toMatchObject({ loyalty_points_balance: '2641', loyalty_last_points_change: '40' });
    // Asked again now, the contact answers yes.
    expect((await askWasDone(handler, pointsAdded())).answer).toBe(true);
  });

  it('false when the contact holds another change, or a value in another form', async () => {
    const handler = inDoubt();
    // An earlier change of this customer is what HubSpot holds.
    await runHandler(handler, pointsAdded({ at: '2024-03-11T15:00:00.000Z', balance: 2600 }));
    expect((await askWasDone(handler, pointsAdded({ at: '2024-03-11T16:00:00.000Z', balance: 3000 }))).answer).toBe(false);

    // The same change, but HubSpot keeps the time as a date: not provably this change's write.
    await runHandler(handler, pointsAdded({ at: '2024-03-11T16:00:00.000Z', balance: 3000 }));
    expect((await askWasDone(handler, pointsAdded({ at: '2024-03-11T16:00:00.000Z', balance: 3000 }))).answer).toBe(true);
    hub.contacts.get(CUSTOMER)!['loyalty_last_transaction_at'] = '2024-03-11';
    expect((await askWasDone(handler, pointsAdded({ at: '2024-03-11T16:00:00.000Z', balance: 3000 }))).answer).toBe(false);
  });

  it('reads and records under the customer lock: an older change arriving meanwhile waits, then is skipped', async () => {
    const handler = inDoubt();
    const newer = pointsAdded({ at: '2024-03-11T16:00:00.000Z', balance: 3000 });
    hub.upsertEnding = 'dropped-after-applying';
    await runHandler(handler, newer);
    hub.upsertEnding = 'answered';

    // Hold the read back: the older change starts while wasDone is between its read and its record.
    let readArrived!: () => void;
    let answerRead!: () => void;
    const reading = new Promise<void>((r) => (readArrived = r));
    hub.pause = (request) => {
      if (request.method !== 'GET') return Promise.resolve();
      readArrived();
      return new Promise<void>((r) => (answerRead = r));
    };
    const asked = askWasDone(handler, newer);
    await reading;
    expect(await redis.exists(`{${prefix}}:crm:lock:${CUSTOMER}`)).toBe(1);
    const older = runHandler(handler, pointsAdded({ at: '2024-03-11T15:00:00.000Z', balance: 2600 }));
    answerRead();

    expect((await asked).answer).toBe(true);
    expect((await older).status).toBe('skipped');
    expect(hub.upserts()).toHaveLength(1);
    expect(hub.contacts.get(CUSTOMER)).toMatchObject({ loyalty_points_balance: '3000' });
  });

  it('false without asking HubSpot when a newer change is applied: the run that follows skips it', async () => {
    const handler = inDoubt();
    await runHandler(handler, pointsAdded({ at: '2024-03-11T16:00:00.000Z', balance: 3000 }));
    const older = pointsAdded({ at: '2024-03-11T15:00:00.000Z', balance: 2600 });
    expect((await askWasDone(handler, older)).answer).toBe(false);
    expect(hub.reads()).toHaveLength(0);
    expect((await runHandler(handler, older, { inDoubt: true })).status).toBe('skipped');
    expect(hub.upserts()).toHaveLength(1);
  });

  it('a read HubSpot refuses for now fails the check: 429 retries later, 503 with backoff', async () => {
    const handler = inDoubt();
    await runHandler(handler, pointsAdded());
    hub.readStatus = 429;
    const limited = await askWasDone(handler, pointsAdded());
    expect(limited.answer).toBeUndefined();
    expect(limited.run).toMatchObject({ status: 'failed', errorKind: 'retry-later', retryAfterMs: 10_000 });
    hub.readStatus = 503;
    expect((await askWasDone(handler, pointsAdded())).run).toMatchObject({
      status: 'failed',
      errorKind: 'retryable',
      error: { message: 'HubSpot 503: the stand-in was told to refuse reads' },
    });
    expect(hub.upserts()).toHaveLength(1);
  });

  it('false for an event that names no customer (the run that follows skips it)', async () => {
    const delivery = pointsAdded();
    delivery.data['customer'] = null;
    (delivery.data['voucher'] as Record<string, unknown>)['holder_id'] = null;
    expect((await askWasDone(inDoubt(), delivery)).answer).toBe(false);
    expect(hub.requests).toHaveLength(0);
  });
});
