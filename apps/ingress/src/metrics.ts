import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How a POST /webhooks/voucherify ended; the label of the request counter and the latency histogram. */
export const OUTCOMES = [
  'accepted',
  'duplicate',
  'unsupported_media_type',
  'payload_too_large',
  'bad_request',
  'bad_signature',
  'malformed_json',
  'missing_event_fields',
  'backpressure',
  'redis_unavailable',
  'shutting_down',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface IngressMetrics {
  readonly registry: Registry;
  /** Counts one request with `outcome` and records how long it took to answer. */
  observe(outcome: Outcome, seconds: number): void;
  /** Records how many deliveries went to Redis in one round trip. */
  batch(size: number): void;
  /** The last backlog reading (intake jobs waiting for a worker). */
  backlog(waiting: number): void;
  /** Counts a duplicate whose body differs from the stored copy's. */
  conflictingDuplicate(): void;
}

export interface MetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event loop lag). @defaultValue false */
  processMetrics?: boolean;
}

/** The ingress's Prometheus metrics, in a registry of their own so several apps can live in one test process. */
export function createIngressMetrics({ processMetrics = false }: MetricsOptions = {}): IngressMetrics {
  const registry = new Registry();
  if (processMetrics) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'vouchflow_ingress_requests_total',
    help: 'Webhook deliveries answered, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'vouchflow_ingress_ack_seconds',
    help: 'Time from receiving a delivery to answering it, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'vouchflow_ingress_enqueue_batch_size',
    help: 'Deliveries stored in one Redis round trip.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });
  const backlog = new Gauge({
    name: 'vouchflow_ingress_backlog',
    help: 'Intake jobs waiting for a worker, as last read from Redis.',
    registers: [registry],
  });
  const conflicts = new Counter({
    name: 'vouchflow_ingress_conflicting_duplicates_total',
    help: 'Deliveries with a known event.id but a different body: answered 2XX, not processed, kept for `pnpm ops events show`.',
    registers: [registry],
  });
  // Children bound once: the request path then does no label lookup.
  const counters = new Map(OUTCOMES.map((o) => [o, requests.labels(o)]));
  const histograms = new Map(OUTCOMES.map((o) => [o, latency.labels(o)]));
  for (const c of counters.values()) c.inc(0);
  return {
    registry,
    observe(outcome, seconds) {
      counters.get(outcome)!.inc();
      histograms.get(outcome)!.observe(seconds);
    },
    batch: (size) => batchSize.observe(size),
    backlog: (waiting) => backlog.set(waiting),
    conflictingDuplicate: () => conflicts.inc(),
  };
}
