import { spawn } from 'node:child_process';
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

// Three handlers; beta fails its first try, so its second comes from its handler queue. Gamma
// fails for good at its first (a dead letter), and succeeds once an operator sends it back;
// alpha succeeds, and is replayed by an operator.
const HANDLERS = `
let alphaRuns = 0;
let betaTries = 0;
let gammaTries = 0;
export default [
  { name: 'alpha', events: ['customer.voucher.loyalty_card.points_added'], async handle(event, ctx) {
      alphaRuns += 1;
      ctx.logger.info('alpha done', { run: alphaRuns });
  } },
  { name: 'beta', events: ['customer.voucher.loyalty_card.points_added'], async handle(event, ctx) {
      betaTries += 1;
      if (betaTries === 1) throw new Error('downstream hiccup');
      ctx.logger.info('beta done', { attempt: ctx.attempt });
  } },
  { name: 'gamma', events: ['customer.voucher.loyalty_card.points_added'], async handle(event, ctx) {
      gammaTries += 1;
      if (gammaTries === 1) throw new ctx.errors.PermanentError('contact gone');
      ctx.logger.info('gamma done', { attempt: ctx.attempt });
  } },
];
`;

/** The operator's command line (the `vouchflow` bin), as a process; resolves with its stdout, rejects on a non-zero exit. */
function vouchflow(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [resolve(ROOT, 'apps/ops/bin/vouchflow.js'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`vouchflow ${args.join(' ')}: exit ${code}\n${out}`)),
    );
  });
}

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
    await worker.waitForLog((l) => l.message === 'unit of work dead-lettered' && l['handler'] === 'gamma', 30_000);
    // An operator replays alpha and sends gamma's dead letter back.
    const ops = { REDIS_URL: env.REDIS_URL, QUEUE_PREFIX: env.QUEUE_PREFIX };
    await vouchflow(['replay', fixture.event.id, '--handler', 'alpha'], ops);
    await vouchflow(['dlq', 'retry', '--all', '--handler', 'gamma'], ops);
    await Promise.all([
      worker.waitForLog((l) => l.message === 'alpha done' && l['run'] === 2, 30_000),
      worker.waitForLog((l) => l.message === 'gamma done', 30_000),
    ]);
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
      .filter(
        (s) => s.name.startsWith('handler ') && s.attributes['vouchflow.replay'] !== true && s.attributes['vouchflow.handler'] !== 'gamma',
      )
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

  it('an operator’s replay continues the delivery’s trace, its try marked as a replay', () => {
    const request = spans.find((s) => s.name === 'POST /webhooks/voucherify')!;
    const replayed = spans.filter((s) => s.name === 'handler alpha' && s.attributes['vouchflow.replay'] === true);
    expect(replayed).toHaveLength(1);
    expect(replayed[0]).toMatchObject({ traceId: request.traceId, attributes: { 'vouchflow.outcome': 'done' } });
    expect(ancestors(replayed[0]!).map((a) => a.spanId)).toContain(request.spanId);
    const original = spans.filter((s) => s.name === 'handler alpha' && s.attributes['vouchflow.replay'] === false);
    expect(original).toHaveLength(1);
  });

  it('a dead letter sent back with `dlq retry` runs in the delivery’s trace', () => {
    const request = spans.find((s) => s.name === 'POST /webhooks/voucherify')!;
    const gamma = spans.filter((s) => s.name === 'handler gamma');
    expect(gamma.map((s) => s.attributes['vouchflow.outcome']).sort()).toEqual(['done', 'failed']);
    for (const s of gamma) {
      expect(s.traceId).toBe(request.traceId);
      expect(ancestors(s).map((a) => a.spanId)).toContain(request.spanId);
    }
  });
});
