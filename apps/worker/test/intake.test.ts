import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetterStore, findDelivery, readHandlerRegistry } from '@vouchflow/pipeline';
import { Harness, delivery, settled, testHandler, waitForEvent } from './support.js';
import { startMetricsServer } from '../src/metrics-server.js';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(async () => {
  await h.cleanup();
});

type Failed = { jobId: string; failedReason: string };

describe('intake', () => {
  it('dead-letters a delivery that does not decode at once, with its path', async () => {
    const email = testHandler('email');
    const worker = await h.start([email]);
    const failed = waitForEvent<Failed>(await h.events('intake'), 'failed');
    const bad = delivery({ mutate: (d) => (d['data']['balance']['points'] = '40') });
    await h.send(bad);
    const [event] = await failed;
    expect(event!.failedReason).toContain('data.balance.points');
    expect(email.calls).toHaveLength(0);

    const store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
    h.onClose(() => store.close());
    const [dead] = await store.list();
    expect(dead).toMatchObject({ handler: null, eventId: bad.eventId, attempts: 1, delivery: bad.body });
    expect(dead!.reason).toMatch(/data\.balance\.points: expected number, got a string/);
    expect(await worker.metrics.registry.getSingleMetricAsString('vouchflow_dead_lettered_total')).toContain('handler="(intake)"} 1');
  });

  it('dead-letters a body that is not JSON', async () => {
    await h.start([testHandler('email')]);
    const failed = waitForEvent<Failed>(await h.events('intake'), 'failed');
    await h.send({ ...delivery(), body: '{"id": "whs_1", ' });
    const [event] = await failed;
    expect(event!.failedReason).toContain('body is not JSON');
  });

  it('hands an unfamiliar event type to the handlers whose pattern matches it, and counts it', async () => {
    const customers = testHandler('customers', undefined, { events: ['customer.*'] });
    const vouchers = testHandler('vouchers', undefined, { events: ['voucher.*'] });
    const exact = testHandler('exact');
    const worker = await h.start([customers, vouchers, exact]);
    const done = settled(worker, 'customers');
    const d = delivery({ type: 'customer.loyalty.tier.brand_new', mutate: (x) => (x['data'] = { anything: 1 }) });
    await h.send(d);
    await done;
    expect(customers.calls.map((c) => c.eventId)).toEqual([d.eventId]);
    expect(customers.calls[0]!.ctx.idempotencyKey).toBe(`customers:${d.eventId}`);
    expect(vouchers.calls).toHaveLength(0);
    expect(exact.calls).toHaveLength(0);
    expect(await worker.metrics.registry.getSingleMetricAsString('vouchflow_unknown_events_total')).toContain(
      'event_type="customer.loyalty.tier.brand_new"} 1',
    );
  });

  it('keeps an unfamiliar event type no pattern matches, runs no handler, counts it', async () => {
    const all = testHandler('all', undefined, { events: ['voucher.*'] });
    const worker = await h.start([all]);
    const done = waitForEvent<{ jobId: string; returnvalue: unknown }>(await h.events('intake'), 'completed');
    const d = delivery({ type: 'customer.brand_new.thing', mutate: (x) => (x['data'] = { anything: 1 }) });
    await h.send(d);
    const [event] = await done;
    expect(event!.returnvalue).toEqual({ handlers: [] });
    expect(all.calls).toHaveLength(0);
    expect(await worker.metrics.registry.getSingleMetricAsString('vouchflow_unknown_events_total')).toContain(
      'event_type="customer.brand_new.thing"} 1',
    );
    // Kept: replay can find it.
    const kept = await findDelivery({ connection: h.redis, queuePrefix: h.prefix }, d.eventId);
    expect(kept).toMatchObject({ body: d.body, handlers: [] });
  });

  it('counts keys the codec does not know (schema drift)', async () => {
    const worker = await h.start([testHandler('email')]);
    const done = settled(worker, 'email');
    await h.send(delivery({ mutate: (d) => (d['data']['balance']['brand_new_field'] = 1) }));
    await done;
    expect(await worker.metrics.registry.getSingleMetricAsString('vouchflow_schema_drift_total')).toContain(
      'path="data.balance.brand_new_field"} 1',
    );
  });

  it('keeps completed deliveries for the retention period, registers its handlers, serves /metrics', async () => {
    const email = testHandler('email');
    const worker = await h.start([email, testHandler('crm', undefined, { events: ['customer.*'] })], { deliveryRetentionMs: 3_600_000 });
    const done = waitForEvent(await h.events('intake'), 'completed');
    const d = delivery();
    await h.send(d);
    await done;

    const kept = await findDelivery({ connection: h.redis, queuePrefix: h.prefix }, d.eventId);
    expect(kept).toMatchObject({ ...d, handlers: ['email', 'crm'], intakeAttempts: 1 });
    expect(kept!.processedAt).toBeGreaterThanOrEqual(d.receivedAt);
    // Kept as that record, not as its intake job.
    expect(await h.intake.getJob(kept!.intakeJobId)).toBeUndefined();

    const registry = await readHandlerRegistry(h.redis, h.prefix);
    expect([...registry.keys()]).toEqual(['crm', 'email']);
    expect(registry.get('crm')!.events).toEqual(['customer.*']);
    // Its retry settings too, so an operator's replay retries as the deployment does.
    expect(registry.get('email')).toMatchObject({ attempts: 8, backoffMs: 10, maxBackoffMs: 15 * 60_000 });

    const server = await startMetricsServer(worker.metrics.registry, 0, '127.0.0.1');
    h.onClose(() => server.close());
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(text).toContain('vouchflow_handler_completed_total{handler="email"} 1');
    expect(text).toContain('vouchflow_handler_duration_seconds_count{handler="email",outcome="completed"} 1');
    expect(text).toMatch(/vouchflow_queue_depth\{queue="intake",state="wait"\} 0/);
    expect((await fetch(`http://127.0.0.1:${server.port}/nope`)).status).toBe(404);
  });
});
