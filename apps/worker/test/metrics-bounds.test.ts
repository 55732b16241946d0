import { describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '../src/metrics.js';

/* Labels that come from payloads are bounded: senders cannot grow the worker's memory or the scrape without limit. */

describe('worker metrics fed by payloads', () => {
  it('count at most 100 distinct unfamiliar event types, the rest as (other)', async () => {
    const metrics = createWorkerMetrics(() => []);
    for (let i = 0; i < 1000; i++) metrics.unknownEvents.inc({ event_type: `made.up.${i}` });
    metrics.unknownEvents.inc({ event_type: 'made.up.3' });
    const text = await metrics.registry.getSingleMetricAsString('vouchflow_unknown_events_total');
    const series = text.split('\n').filter((l) => l.startsWith('vouchflow_unknown_events_total{'));
    expect(series).toHaveLength(101);
    expect(text).toContain('vouchflow_unknown_events_total{event_type="(other)"} 900');
    expect(text).toContain('vouchflow_unknown_events_total{event_type="made.up.3"} 2');
  });

  it('count at most 500 distinct drift paths', async () => {
    const metrics = createWorkerMetrics(() => []);
    for (let i = 0; i < 2000; i++) metrics.drift(`data.key_${i}`);
    const text = await metrics.registry.getSingleMetricAsString('vouchflow_schema_drift_total');
    expect(text.split('\n').filter((l) => l.startsWith('vouchflow_schema_drift_total{'))).toHaveLength(501);
  });
});
