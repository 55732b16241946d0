import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';

const ROOT = resolve(import.meta.dirname, '..');
const fixture = JSON.parse(readFileSync(resolve(ROOT, 'packages/schema/fixtures/points_added.json'), 'utf8')) as {
  event: { id: string; type: string };
};

// Two handlers; beta fails its first try, so its second comes from its handler queue.
const HANDLERS = `
let betaTries = 0;
export default [
  { name: 'alpha', events: ['customer.voucher.loyalty_card.points_added'], async handle() {} },
  { name: 'beta', events: ['customer.voucher.loyalty_card.points_added'], async handle(event, ctx) {
      betaTries += 1;
      if (betaTries === 1) throw new Error('downstream hiccup');
      ctx.logger.info('beta done', { attempt: ctx.attempt });
  } },
];
`;

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
}

describe('one signed delivery is one trace, from the ingress request to each handler try', () => {
  let sink: Server;
  const bodies: string[] = [];
  let dir: string;
  let ingress: AppProcess;
  let worker: AppProcess;
  const secret = 'traces-secret-0123456789';
  const queuePrefix = uniquePrefix('traces');
  let spans: Span[] = [];

  beforeAll(async () => {
    sink = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        if (req.url === '/v1/traces') bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    dir = mkdtempSync(join(tmpdir(), 'vouchflow-traces-'));
    writeFileSync(join(dir, 'handlers.mjs'), HANDLERS);

    const port = await freePort();
    const env = {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: queuePrefix,
      VOUCHERIFY_WEBHOOK_SECRET: secret,
      PORT: String(port),
      METRICS_PORT: '0',
      HANDLERS: join(dir, 'handlers.mjs'),
      BACKOFF_MS: '50',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    ingress = startApp('ingress', env);
    worker = startApp('worker', env);
    await Promise.all([
      ingress.waitForLog((l) => l.message === 'ingress listening', 30_000),
      worker.waitForLog((l) => l.message === 'worker started', 30_000),
    ]);
    const body = JSON.stringify(fixture);
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/voucherify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, secret) },
      body,
    });
    expect(res.status).toBe(202);
    await worker.waitForLog((l) => l.message === 'beta done', 30_000);
    // SIGTERM: each app's shutdown sends what it still buffers.
    expect(await ingress.stop()).toBe(0);
    expect(await worker.stop()).toBe(0);
    spans = bodies.flatMap((b) => {
      const doc = JSON.parse(b) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{
            spans: Array<Omit<Span, 'service' | 'attributes'> & { attributes?: Array<{ key: string; value: Record<string, unknown> }> }>;
          }>;
        }>;
      };
      return doc.resourceSpans.flatMap((rs) => {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        return rs.scopeSpans.flatMap((ss) =>
          ss.spans.map((s) => ({
            ...s,
            service,
            attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]])),
          })),
        );
      });
    });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([ingress?.stop(), worker?.stop()]);
    await deletePrefix(testRedisUrl(), queuePrefix);
    rmSync(dir, { recursive: true, force: true });
    await new Promise<void>((r) => sink.close(() => r()));
  });

  const ancestors = (span: Span): Span[] => {
    const chain: Span[] = [];
    let at: Span | undefined = span;
    while (at?.parentSpanId) {
      at = spans.find((s) => s.spanId === at!.parentSpanId);
      if (at) chain.push(at);
    }
    return chain;
  };

  it('the ingress request names the delivery, and its enqueue is its child', () => {
    const request = spans.find((s) => s.name === 'POST /webhooks/voucherify');
    expect(request).toMatchObject({
      service: 'vouchflow-ingress',
      attributes: { 'vouchflow.event_id': fixture.event.id, 'vouchflow.event_type': fixture.event.type, 'http.response.status_code': 202 },
    });
    const enqueue = spans.find((s) => s.name === 'enqueue intake')!;
    expect(enqueue.parentSpanId).toBe(request!.spanId);
  });

  it('the intake job, the decode and both handlers’ tries, the retry included, are in the same trace, under the request', () => {
    const request = spans.find((s) => s.name === 'POST /webhooks/voucherify')!;
    const inTrace = spans.filter((s) => s.traceId === request.traceId);
    const decode = inTrace.find((s) => s.name === 'decode');
    expect(decode?.service).toBe('vouchflow-worker');
    const tries = inTrace
      .filter((s) => s.name.startsWith('handler '))
      .map(
        (s) =>
          `${String(s.attributes['vouchflow.handler'])}#${String(s.attributes['vouchflow.attempt'])} ${String(s.attributes['vouchflow.outcome'])}`,
      )
      .sort();
    expect(tries).toEqual(['alpha#1 done', 'beta#1 failed', 'beta#2 done']);
    // Every worker span hangs, through BullMQ's job spans, under the ingress request.
    for (const s of inTrace.filter((x) => x.service === 'vouchflow-worker')) {
      expect(
        ancestors(s).map((a) => a.spanId),
        s.name,
      ).toContain(request.spanId);
    }
    // BullMQ's own spans (bullmq-otel) are there: the intake job and the retry's job.
    expect(inTrace.filter((s) => s.name.startsWith('process')).length).toBeGreaterThanOrEqual(2);
    // One delivery, one trace.
    expect(new Set(spans.filter((s) => s.attributes['vouchflow.event_id'] === fixture.event.id).map((s) => s.traceId)).size).toBe(1);
  });
});
