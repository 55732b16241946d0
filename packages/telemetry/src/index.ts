/*
 * Tracing for the apps with OpenTelemetry. Off unless the standard
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set;
 * then spans go over OTLP/HTTP, as protobuf (the default) or JSON
 * (OTEL_EXPORTER_OTLP_PROTOCOL / OTEL_EXPORTER_OTLP_TRACES_PROTOCOL). Only
 * the standard OTEL_* variables are read. BullMQ's own spans come from
 * bullmq-otel; a trace crosses processes in the job's `opts.telemetry.metadata`,
 * the carrier bullmq-otel writes and reads, so one delivery is one trace.
 */
import {
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanKind,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { BullMQOtel } from 'bullmq-otel';

/** A telemetry setting that cannot work; the app stops at start with this message. */
export class TelemetryConfigError extends Error {
  override readonly name = 'TelemetryConfigError';
}

export interface Telemetry {
  /** Whether spans are exported (an OTLP endpoint is set). */
  readonly enabled: boolean;
  /** `http/json` or `http/protobuf` when enabled. */
  readonly protocol: string | undefined;
  readonly tracer: Tracer;
  /** For BullMQ's `telemetry` option (queues and workers); undefined when off, so BullMQ does no tracing work. */
  readonly bullmq: BullMQOtel | undefined;
  /** Sends what is buffered, then stops; a step of the app's ordered shutdown. */
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;
const value = (env: Env, key: string) => {
  const v = env[key]?.trim();
  return v ? v : undefined;
};

/** Where traces go: the traces endpoint as given, else `<endpoint>/v1/traces`, as the OTLP specification says. */
export function tracesUrl(env: Env): string | undefined {
  const traces = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (traces) return traces;
  const base = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}

/** The standard OTEL_BSP_* variables, those that are set. */
function batchOptions(env: Env) {
  const n = (key: string) => {
    const v = value(env, key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new TelemetryConfigError(`${key}: expected a whole number, got "${v}"`);
    return Number(v);
  };
  const options = {
    scheduledDelayMillis: n('OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: n('OTEL_BSP_EXPORT_TIMEOUT'),
    maxQueueSize: n('OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: n('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/*
 * Apps started by startTelemetry that export spans. At 0 (tracing off, the
 * default), inSpan and inSpanSync call straight through: the API's no-op
 * spans are cheap, but the closures, context switches and promise around
 * them cost the worker's hot path a few microseconds per unit.
 */
let recording = 0;
/** Whether any app in this process exports spans (else spans are not worth building). */
export const tracingOn = (): boolean => recording > 0;
const NOT_RECORDING: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Sets up tracing for one app (`serviceName`, unless OTEL_SERVICE_NAME says
 * otherwise). Without an endpoint it registers nothing: the OpenTelemetry API
 * then hands out non-recording spans, which cost next to nothing.
 */
export function startTelemetry(serviceName: string, env: Env): Telemetry {
  const url = tracesUrl(env);
  if (!url || value(env, 'OTEL_SDK_DISABLED') === 'true' || value(env, 'OTEL_TRACES_EXPORTER') === 'none') {
    return { enabled: false, protocol: undefined, tracer: trace.getTracer('vouchflow'), bullmq: undefined, shutdown: async () => {} };
  }
  const protocol = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? value(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new TelemetryConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL: "${protocol}" is not supported; use http/protobuf (the default) or http/json`,
    );
  }
  const exporter = protocol === 'http/json' ? new JsonExporter({ url }) : new ProtobufExporter({ url });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': value(env, 'OTEL_SERVICE_NAME') ?? serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...batchOptions(env) })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  recording++;
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    protocol,
    tracer: vouchflowTracer(),
    bullmq: new BullMQOtel({ tracerName: 'bullmq' }),
    shutdown: () =>
      (stopped ??= provider.shutdown().finally(() => {
        recording--;
        // Unregistered, so a later start (a test, a restart in process) begins clean.
        trace.disable();
        propagation.disable();
        context.disable();
      })),
  };
}

/**
 * The active trace as BullMQ job metadata (`opts.telemetry.metadata`), for a
 * job added outside BullMQ's own `add` (the ingress's batched enqueue);
 * undefined when no span is recording.
 */
export function jobTraceMetadata(ctx: Context = context.active()): string | undefined {
  if (!trace.getSpan(ctx)?.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return JSON.stringify(carrier);
}

/** The context a job's metadata carries, to link to or continue from. */
export function contextFromJobMetadata(metadata: string | undefined): Context | undefined {
  if (!metadata) return undefined;
  try {
    return propagation.extract(context.active(), JSON.parse(metadata) as Record<string, string>);
  } catch {
    return undefined; // metadata from something else: no parent rather than no work
  }
}

export interface SpanOptions {
  attributes?: Attributes;
  kind?: SpanKind;
  /** Start under this context instead of the active one. */
  parent?: Context;
  /** Other traces this span relates to (a replay's original delivery). */
  links?: Link[];
}

/**
 * Runs `fn` inside a new active span; a throw marks the span failed and is
 * rethrown. The span ends when `fn` settles.
 */
export async function inSpan<T>(tracer: Tracer, name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  if (recording === 0) return fn(NOT_RECORDING);
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(
    name,
    { attributes: options.attributes, kind: options.kind, links: options.links },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        failed(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** Marks a span as ended by an error. */
function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** `inSpan` for synchronous work (a decode). */
export function inSpanSync<T>(tracer: Tracer, name: string, attributes: Attributes, fn: () => T): T {
  if (recording === 0) return fn();
  return tracer.startActiveSpan(name, { attributes }, (span) => {
    try {
      return fn();
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The tracer every part of vouchflow records with; non-recording until `startTelemetry` enables export. */
export const vouchflowTracer = (): Tracer => trace.getTracer('vouchflow');

export { trace, context, SpanKind, SpanStatusCode, type Span, type Tracer, type Attributes } from '@opentelemetry/api';
