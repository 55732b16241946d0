import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { SIGNATURE_HEADER, signBody } from '@vouchflow/schema';
import { deduplicationTtlMs, IntakeJobData, intakeDeduplicationId } from '@vouchflow/pipeline';
import { INTAKE_QUEUE } from '@vouchflow/core';
import { isRight } from 'fp-ts/lib/Either.js';
import { SECRET, deliveryBody, newEventId, startTestIngress, storedJobs, type TestIngress } from './support.js';

describe('POST /webhooks/voucherify against real Redis', () => {
  const prefix = uniquePrefix('ingress');
  let t: TestIngress;

  beforeAll(async () => {
    t = await startTestIngress(testRedisUrl(), prefix, { secrets: ['old-secret', SECRET], bodyLimitBytes: 16 * 1024 });
  });

  afterAll(async () => {
    await t?.close();
    await deletePrefix(testRedisUrl(), prefix);
  });

  const jobsOf = async (eventId: string) => (await storedJobs(t.queue)).filter((j) => j.data.eventId === eventId);
  const rejections = () => t.lines.filter((l) => l['message'] === 'delivery rejected');

  it('answers 202 accepted and stores the delivery exactly as received, in the shape the worker reads', async () => {
    const eventId = newEventId();
    const body = deliveryBody(eventId);
    const before = Date.now();
    const res = await t.client.deliver(body);
    expect(res.status).toBe(202);
    expect(res.json()).toEqual({ status: 'accepted', eventId });

    const jobs = await jobsOf(eventId);
    expect(jobs).toHaveLength(1);
    const data = jobs[0]!.data;
    expect(isRight(IntakeJobData.decode(data))).toBe(true);
    expect(data).toMatchObject({ body, eventId, eventType: 'customer.voucher.loyalty_card.points_added' });
    expect(data.receivedAt).toBeGreaterThanOrEqual(before);
  });

  it('answers a re-sent event 200 duplicate and stores nothing more', async () => {
    const eventId = newEventId();
    const body = deliveryBody(eventId);
    expect((await t.client.deliver(body)).status).toBe(202);
    const again = await t.client.deliver(body);
    expect(again.status).toBe(200);
    expect(again.json()).toEqual({ status: 'duplicate', eventId });
    // The same event id in a different send-out (another `id`, whitespace) is still the same event.
    const resent = await t.client.deliver(deliveryBody(eventId, { id: 'whs_other_sendout' }));
    expect(resent.json()).toEqual({ status: 'duplicate', eventId });
    expect(await jobsOf(eventId)).toHaveLength(1);
  });

  it('stores one copy when the same event arrives many times at once (in one batch or several)', async () => {
    const eventId = newEventId();
    const body = deliveryBody(eventId);
    const answers = await Promise.all(Array.from({ length: 40 }, () => t.client.deliver(body)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(39);
    expect(await jobsOf(eventId)).toHaveLength(1);
  });

  it('keeps the deduplication key for the configured window', async () => {
    const eventId = newEventId();
    expect((await t.client.deliver(deliveryBody(eventId))).status).toBe(202);
    const ttl = (await deduplicationTtlMs(t.redis, prefix, INTAKE_QUEUE, intakeDeduplicationId(eventId)))!;
    expect(ttl).toBeGreaterThan(71 * 3600 * 1000);
    expect(ttl).toBeLessThanOrEqual(72 * 3600 * 1000);
  });

  it('accepts event ids BullMQ could not use as job ids (colons, digits only, unicode, very long) and still deduplicates them', async () => {
    const ids = [
      `a:b:${newEventId()}`,
      `${Date.now()}${Math.floor(Math.random() * 1e6)}`,
      `${newEventId()}:`,
      `ev ✓ ${newEventId()}`,
      `${newEventId()}${'x'.repeat(300)}`,
      `%0025${newEventId()}`,
    ];
    for (const eventId of ids) {
      const body = deliveryBody(eventId);
      const first = await t.client.deliver(body);
      expect(first.status, eventId).toBe(202);
      expect(first.json()).toEqual({ status: 'accepted', eventId });
      expect((await t.client.deliver(body)).status, eventId).toBe(200);
      expect(await jobsOf(eventId), eventId).toHaveLength(1);
    }
    // Two ids that differ only where the encoding works stay two events.
    const a = `x:${newEventId()}`;
    const b = a.replace(':', '%003a');
    expect((await t.client.deliver(deliveryBody(a))).status).toBe(202);
    expect((await t.client.deliver(deliveryBody(b))).status).toBe(202);
  });

  it('verifies with every secret of a rotation', async () => {
    expect((await t.client.deliver(deliveryBody(), 'old-secret')).status).toBe(202);
    expect((await t.client.deliver(deliveryBody(), SECRET)).status).toBe(202);
    expect((await t.client.deliver(deliveryBody(), 'retired-secret')).status).toBe(401);
  });

  it('accepts a pretty-printed body signed over its compact form, and stores the bytes as received', async () => {
    const eventId = newEventId();
    const compact = deliveryBody(eventId);
    const pretty = JSON.stringify(JSON.parse(compact), null, 2);
    const res = await t.client.post('/webhooks/voucherify', pretty, {
      'content-type': 'application/json; charset=utf-8',
      [SIGNATURE_HEADER]: signBody(compact, SECRET),
    });
    expect(res.status).toBe(202);
    expect((await jobsOf(eventId))[0]!.data.body).toBe(pretty);
  });

  it('answers 401 to a missing, wrong or malformed signature, and logs why without the body or the secret', async () => {
    const eventId = newEventId();
    const body = deliveryBody(eventId);
    const missing = await t.client.post('/webhooks/voucherify', body, { 'content-type': 'application/json' });
    expect(missing.status).toBe(401);
    expect(missing.json()).toEqual({ error: `${SIGNATURE_HEADER} header is missing` });
    expect((await t.client.deliver(body, 'wrong-secret')).status).toBe(401);
    const malformed = await t.client.post('/webhooks/voucherify', body, { 'content-type': 'application/json', [SIGNATURE_HEADER]: 'zz' });
    expect(malformed.status).toBe(401);
    expect(await jobsOf(eventId)).toHaveLength(0);

    const logged = rejections().filter((l) => l['status'] === 401);
    expect(logged.map((l) => l['reason'])).toEqual(
      expect.arrayContaining([`${SIGNATURE_HEADER} header is missing`, 'signature does not match']),
    );
    const everything = JSON.stringify(t.lines);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('Alex Doe');
    expect(everything).not.toContain(signBody(body, 'wrong-secret'));
  });

  it('answers 415 unless the content type is JSON', async () => {
    const body = deliveryBody();
    const res = await t.client.post('/webhooks/voucherify', body, {
      'content-type': 'text/plain',
      [SIGNATURE_HEADER]: signBody(body, SECRET),
    });
    expect(res.status).toBe(415);
    expect(res.json()).toEqual({ error: 'Content-Type must be application/json' });
    const none = await t.client.post('/webhooks/voucherify', body, { [SIGNATURE_HEADER]: signBody(body, SECRET) });
    expect(none.status).toBe(415);
    expect((await t.client.deliver(body, SECRET, { 'content-type': 'application/vnd.voucherify+json' })).status).toBe(202);
    expect(rejections().some((l) => l['status'] === 415 && l['outcome'] === 'unsupported_media_type')).toBe(true);
  });

  it('answers 413 to a body over the configured limit', async () => {
    const body = deliveryBody(newEventId(), { padding: 'x'.repeat(20 * 1024) });
    const res = await t.client.deliver(body);
    expect(res.status).toBe(413);
    expect(res.json()).toEqual({ error: 'body exceeds the size limit' });
    // The connection stays usable after the refused body.
    expect((await t.client.get('/healthz')).status).toBe(200);
  });

  // The exact path skips Express (app.ts); a plain body is read by the ingress itself, anything
  // chunked, compressed or over the limit by body-parser. Every combination must answer alike.
  it.each(['/webhooks/voucherify', '/webhooks/voucherify/'])(
    '%s: refuses a body its sender stops sending halfway as unreadable, stores nothing, and keeps answering',
    async (path) => {
      const eventId = newEventId();
      const body = deliveryBody(eventId);
      const socket = connect(t.ingress.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n${SIGNATURE_HEADER}: ${signBody(body, SECRET)}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
      );
      // "100 Continue" means the server handed the request to the ingress: it is reading the body now.
      await once(socket, 'data');
      socket.write(body.slice(0, 100));
      socket.destroy();
      await vi.waitFor(() =>
        expect(
          rejections().some((l) => l['outcome'] === 'bad_request' && l['reason'] === 'could not read the body (request.aborted)'),
        ).toBe(true),
      );
      t.lines.length = 0;
      expect(await jobsOf(eventId)).toEqual([]);
      expect((await t.client.deliver(deliveryBody())).status).toBe(202);
    },
  );

  it.each([
    ['chunked', {}],
    ['gzip-compressed', { 'content-encoding': 'gzip' }],
  ])('accepts a delivery sent %s, signed over its JSON, like a plain one', async (_how, extra: Record<string, string>) => {
    const eventId = newEventId();
    const body = deliveryBody(eventId);
    const payload = extra['content-encoding'] === 'gzip' ? gzipSync(body) : Buffer.from(body);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${t.ingress.url}/webhooks/voucherify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, SECRET), ...extra },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      // Written in two parts without a Content-Length: Node sends them chunked.
      req.write(payload.subarray(0, 50));
      req.end(payload.subarray(50));
    });
    expect(status).toBe(202);
    expect((await jobsOf(eventId)).map((j) => j.data.body)).toEqual([body]);
  });

  it.each(['/webhooks/voucherify/', '/WEBHOOKS/VOUCHERIFY'])('answers the same on %s, which Express routes here too', async (path) => {
    const body = deliveryBody();
    const headers = { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, SECRET) };
    expect((await t.client.post(path, body, headers)).status).toBe(202);
    const big = deliveryBody(newEventId(), { padding: 'x'.repeat(20 * 1024) });
    expect((await t.client.post(path, big, { ...headers, [SIGNATURE_HEADER]: signBody(big, SECRET) })).status).toBe(413);
    expect((await t.client.post(path, body, { ...headers, 'content-encoding': 'x-unknown' })).status).toBe(415);
  });

  it('answers 400 to malformed JSON without echoing it', async () => {
    const body = '{"event": {"id": "evcus_secretive"';
    const res = await t.client.deliver(body);
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ error: 'body is not valid JSON' });
    expect(JSON.stringify(t.lines)).not.toContain('evcus_secretive');
    expect((await t.client.deliver('')).status).toBe(400);
  });

  it.each([
    ['[1,2]', 'body is not a JSON object'],
    ['"text"', 'body is not a JSON object'],
    ['{"id":"whs_1"}', 'event is missing or not an object'],
    ['{"event":{"type":"customer.rewarded"}}', 'event.id is missing or not a non-empty string'],
    ['{"event":{"id":42,"type":"customer.rewarded"}}', 'event.id is missing or not a non-empty string'],
    ['{"event":{"id":" ","type":"customer.rewarded"}}', 'event.id is missing or not a non-empty string'],
    ['{"event":{"id":"evcus_1"}}', 'event.type is missing or not a non-empty string'],
  ])('answers 400 with a reason to %s', async (body, reason) => {
    const res = await t.client.deliver(body);
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ error: reason });
    expect(rejections().some((l) => l['reason'] === reason && l['status'] === 400)).toBe(true);
  });

  it('accepts a delivery the worker will not decode, as long as it names its event (the dead letters take it)', async () => {
    const eventId = newEventId();
    const res = await t.client.deliver(JSON.stringify({ event: { id: eventId, type: 'some.future.event' }, data: 'unexpected' }));
    expect(res.status).toBe(202);
  });

  it('reports liveness, readiness and metrics', async () => {
    expect((await t.client.get('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await t.client.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });

    await t.ingress.backlog.refresh();
    // Not on the webhook port: on a metrics port of its own, bound to loopback.
    expect((await t.client.get('/metrics')).status).toBe(404);
    const metrics = await fetch(`${t.ingress.metricsUrl}/metrics`).then(async (r) => ({
      status: r.status,
      headers: { 'content-type': r.headers.get('content-type') ?? '' },
      text: await r.text(),
    }));
    expect(t.ingress.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.text).toMatch(/vouchflow_ingress_requests_total\{outcome="accepted"\} [1-9]/);
    expect(metrics.text).toMatch(/vouchflow_ingress_requests_total\{outcome="duplicate"\} [1-9]/);
    expect(metrics.text).toMatch(/vouchflow_ingress_requests_total\{outcome="bad_signature"\} [1-9]/);
    expect(metrics.text).toMatch(/vouchflow_ingress_ack_seconds_bucket\{le="0.05",outcome="accepted"\} [1-9]/);
    expect(metrics.text).toMatch(/vouchflow_ingress_enqueue_batch_size_count [1-9]/);
    expect(metrics.text).toMatch(/vouchflow_ingress_backlog [1-9]/);
  });

  it('writes only keys under {QUEUE_PREFIX}', async () => {
    const keys = await t.redis.keys(`*${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(`{${prefix}}:`)).toBe(true);
  });
});

describe('with WEBHOOK_ALLOW_UNSIGNED=true', () => {
  const prefix = uniquePrefix('unsigned');
  let t: TestIngress;

  beforeAll(async () => {
    t = await startTestIngress(testRedisUrl(), prefix, { secrets: [], allowUnsigned: true });
  });

  afterAll(async () => {
    await t?.close();
    await deletePrefix(testRedisUrl(), prefix);
  });

  it('accepts an unsigned delivery and logs a warning for each one', async () => {
    const res = await t.client.post('/webhooks/voucherify', deliveryBody(), { 'content-type': 'application/json' });
    expect(res.status).toBe(202);
    await t.client.post('/webhooks/voucherify', deliveryBody(), { 'content-type': 'application/json' });
    const warnings = t.lines.filter((l) => l['level'] === 'warn' && String(l['message']).includes('WEBHOOK_ALLOW_UNSIGNED=true'));
    expect(warnings).toHaveLength(2);
  });
});
