import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { context, jobTraceMetadata, SpanKind, SpanStatusCode, trace, vouchflowTracer } from '@vouchflow/telemetry';

/*
 * The ingress's spans, kept here so the request path only calls in: the HTTP
 * request (server span), and for each delivery its enqueue, whose context
 * travels in the intake job so the worker continues the same trace.
 */

/** Runs each request inside a server span that ends when the answer is sent. */
export function tracedRequests(listener: RequestListener): RequestListener {
  const tracer = vouchflowTracer();
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const span = tracer.startSpan(`${req.method} ${path}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': req.method ?? '', 'url.path': path },
    });
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(context.active(), span), () => listener(req, res));
  };
}

/**
 * Names the delivery on the request's span and opens its enqueue span; the
 * returned metadata goes into the intake job (`opts.telemetry.metadata`).
 * `end` closes the span with how the enqueue ended.
 */
export function traceEnqueue(eventId: string, eventType: string): { metadata: string | undefined; end(outcome: string): void } {
  const parent = context.active();
  const request = trace.getSpan(parent);
  if (!request?.isRecording()) return { metadata: undefined, end: () => {} };
  const attributes = { 'vouchflow.event_id': eventId, 'vouchflow.event_type': eventType };
  request.setAttributes(attributes);
  const span = vouchflowTracer().startSpan('enqueue intake', { kind: SpanKind.PRODUCER, attributes }, parent);
  return {
    metadata: jobTraceMetadata(trace.setSpan(parent, span)),
    end(outcome) {
      span.setAttribute('vouchflow.outcome', outcome);
      span.end();
    },
  };
}

/**
 * `callback`, called back in the trace context active now: stream events
 * (a request body's `end`) arrive in the socket's context, not the request's.
 * Without telemetry there is no context to keep and this costs one closure;
 * Node's `AsyncResource.bind`, which body-parser uses, cost the ingress more
 * CPU per delivery than its signature check.
 */
export function inActiveContext<A extends unknown[]>(callback: (...args: A) => void): (...args: A) => void {
  const active = context.active();
  return (...args: A) => context.with(active, callback, undefined, ...args);
}
