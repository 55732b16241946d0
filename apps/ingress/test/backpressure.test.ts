import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { deliveryBody, startTestIngress, type TestIngress } from './support.js';

describe('back-pressure: a backlog over its bound is answered 503', () => {
  const prefix = uniquePrefix('backlog');
  let t: TestIngress;

  beforeAll(async () => {
    // A long interval: the test drives readings itself with refresh(), so nothing depends on timing.
    t = await startTestIngress(testRedisUrl(), prefix, { maxBacklog: 3, backlogCheckMs: 60_000 });
  });

  afterAll(async () => {
    await t?.close();
    await deletePrefix(testRedisUrl(), prefix);
  });

  it('refuses deliveries and reports not ready while the backlog is over the bound, and recovers when workers catch up', async () => {
    await t.ingress.backlog.refresh();
    for (let i = 0; i < 3; i++) expect((await t.client.deliver(deliveryBody())).status).toBe(202);
    // Counted between readings: the fourth delivery already sees 3 + 1 > 3 and is still accepted, the fifth is not.
    expect((await t.client.deliver(deliveryBody())).status).toBe(202);
    const refused = await t.client.deliver(deliveryBody());
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.json()).toEqual({ error: 'intake backlog is over its bound; retry later' });

    await t.ingress.backlog.refresh();
    expect(t.ingress.backlog.reading()).toBe(4);
    expect((await t.client.deliver(deliveryBody())).status).toBe(503);
    const ready = await t.client.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json()).toMatchObject({ problems: ['intake backlog over its bound'] });
    expect(t.lines.some((l) => l['outcome'] === 'backpressure' && l['status'] === 503)).toBe(true);
    expect(t.lines.some((l) => l['message'] === 'intake backlog over its bound: refusing deliveries with 503')).toBe(true);
    expect(await (await fetch(`${t.ingress.metricsUrl}/metrics`)).text()).toMatch(/vouchflow_ingress_backlog 4/);

    // Workers catch up.
    await t.queue.drain();
    await t.ingress.backlog.refresh();
    expect(t.ingress.backlog.reading()).toBe(0);
    expect((await t.client.deliver(deliveryBody())).status).toBe(202);
    expect((await t.client.get('/readyz')).status).toBe(200);
  });

  it('still answers 4XX to bad requests while refusing for back-pressure', async () => {
    for (let i = 0; i < 4; i++) await t.client.deliver(deliveryBody());
    await t.ingress.backlog.refresh();
    expect((await t.client.deliver(deliveryBody())).status).toBe(503);
    expect((await t.client.deliver(deliveryBody(), 'wrong-secret')).status).toBe(401);
    expect((await t.client.deliver('{oops')).status).toBe(400);
  });
});
