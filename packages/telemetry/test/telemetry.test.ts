import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { deletePrefix, testRedisUrl, uniquePrefix, waitForEvent, openQueueEvents } from '@vouchflow/test-support';
import {
  contextFromJobMetadata,
  inSpan,
  jobTraceMetadata,
  startTelemetry,
  TelemetryConfigError,
  trace,
  type Telemetry,
} from '../src/index.js';

/** A collector stand-in: a local HTTP server that keeps every OTLP export it receives. */
interface Export {
  contentType: string;
  body: Buffer;
}
let sink: Server;
let endpoint: string;
const exports: Export[] = [];
const waiters = new Set<() => void>();
const read = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });

beforeAll(async () => {
  sink = createServer((req, res) => {
    void read(req).then((body) => {
      if (req.url === '/v1/traces') exports.push({ contentType: req.headers['content-type'] ?? '', body });
      res
        .writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' })
        .end(req.headers['content-type']?.includes('json') ? '{}' : '');
      for (const w of waiters) w();
    });
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => sink.close(() => resolve())));

interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  links?: Array<{ traceId: string }>;
}
/** Every span of every http/json export so far. */
const jsonSpans = (): Array<JsonSpan & { service: string }> =>
  exports
    .filter((e) => e.contentType.includes('json'))
    .flatMap((e) => {
      const doc = JSON.parse(e.body.toString('utf8')) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: JsonSpan[] }>;
        }>;
      };
      return doc.resourceSpans.flatMap((rs) => {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        return rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, service })));
      });
    });
const attr = (span: JsonSpan, key: string) => {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  return v ? (Object.values(v)[0] as unknown) : undefined;
};

let telemetry: Telemetry | undefined;
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
  exports.length = 0;
});

describe('telemetry', () => {
  it('is off without an endpoint: nothing registered, spans do not record, nothing is sent', async () => {
    telemetry = startTelemetry('vouchflow-test', {});
    expect(telemetry.enabled).toBe(false);
    expect(telemetry.bullmq).toBeUndefined();
    await inSpan(telemetry.tracer, 'quiet', {}, async (span) => {
      expect(span.isRecording()).toBe(false);
      expect(jobTraceMetadata()).toBeUndefined();
    });
    await telemetry.shutdown();
    expect(exports).toEqual([]);
  });

  it('refuses a protocol it does not speak, naming the variable', () => {
    expect(() => startTelemetry('x', { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      TelemetryConfigError,
    );
    expect(() => startTelemetry('x', { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported/,
    );
  });

  it('exports over http/json: a parent and its child, with attributes, in one trace', async () => {
    telemetry = startTelemetry('vouchflow-test', { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    expect(telemetry).toMatchObject({ enabled: true, protocol: 'http/json' });
    await inSpan(telemetry.tracer, 'request', { attributes: { 'vouchflow.event_id': 'evcus_1' } }, async () => {
      await inSpan(telemetry!.tracer, 'enqueue', {}, async () => undefined);
    });
    await telemetry.shutdown(); // flushes
    const spans = jsonSpans();
    const request = spans.find((s) => s.name === 'request')!;
    const enqueue = spans.find((s) => s.name === 'enqueue')!;
    expect(request.service).toBe('vouchflow-test');
    expect(attr(request, 'vouchflow.event_id')).toBe('evcus_1');
    expect(enqueue.traceId).toBe(request.traceId);
    expect(enqueue.parentSpanId).toBe(request.spanId);
  });

  it('exports over http/protobuf, the default', async () => {
    telemetry = startTelemetry('vouchflow-proto', { OTEL_EXPORTER_OTLP_ENDPOINT: `${endpoint}/` });
    expect(telemetry.protocol).toBe('http/protobuf');
    let traceId = '';
    await inSpan(telemetry.tracer, 'proto-span', {}, async (span) => {
      traceId = span.spanContext().traceId;
    });
    await telemetry.shutdown();
    expect(exports.map((e) => e.contentType)).toEqual(['application/x-protobuf']);
    // Protobuf carries the name as UTF-8 and the trace id as its 16 raw bytes.
    const body = exports[0]!.body;
    expect(body.includes(Buffer.from('proto-span'))).toBe(true);
    expect(body.includes(Buffer.from(traceId, 'hex'))).toBe(true);
  });

  it('carries a trace through a BullMQ job in Redis: the worker continues the producer trace, with bullmq-otel spans', async () => {
    telemetry = startTelemetry('vouchflow-bullmq', {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    const prefix = uniquePrefix('otel');
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const queue = new Queue('traced', { connection, prefix, telemetry: telemetry.bullmq });
    const events = await openQueueEvents(testRedisUrl(), prefix, 'traced');
    let seenInWorker = '';
    const worker = new Worker(
      'traced',
      async () => {
        await inSpan(telemetry!.tracer, 'handle', {}, async (span) => {
          seenInWorker = span.spanContext().traceId;
        });
      },
      { connection: connection.duplicate(), prefix, telemetry: telemetry.bullmq },
    );
    try {
      let producerTrace = '';
      let metadata: string | undefined;
      const done = waitForEvent(events, 'completed');
      await inSpan(telemetry.tracer, 'ingress request', {}, async (span) => {
        producerTrace = span.spanContext().traceId;
        metadata = jobTraceMetadata();
        // As the ingress's batched enqueue does: the carrier in the job's options, for bullmq-otel to read.
        await queue.add('delivery', { n: 1 }, { telemetry: { metadata: metadata! } });
      });
      await done;
      expect(seenInWorker).toBe(producerTrace);
      expect(trace.getSpan(contextFromJobMetadata(metadata)!)?.spanContext().traceId).toBe(producerTrace);
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
      await deletePrefix(testRedisUrl(), prefix);
      await connection.quit();
    }
    await telemetry.shutdown();
    const spans = jsonSpans();
    const root = spans.find((s) => s.name === 'ingress request')!;
    const inTrace = spans.filter((s) => s.traceId === root.traceId).map((s) => s.name);
    // BullMQ's own spans (bullmq-otel) and ours, one trace across Redis.
    expect(inTrace).toEqual(expect.arrayContaining(['ingress request', 'handle']));
    expect(inTrace.some((n) => n.startsWith('process'))).toBe(true);
    const handle = spans.find((s) => s.name === 'handle')!;
    const process = spans.find((s) => s.spanId === handle.parentSpanId);
    expect(process?.name).toMatch(/^process/);
  });
});
