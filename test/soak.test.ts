/*
 * Soak: first the pipeline's maximum rate is measured (deliveries through the
 * real ingress into one real worker with two handlers, as fast as they go),
 * then it runs at half that rate. Memory (RSS) of the ingress and the worker
 * is sampled every second and its slope reported; the backlog must not grow,
 * must drain afterwards, and every acknowledged event must have its effects.
 * Default: a short bounded run fit for CI; CHAOS_LONG=1: minutes (docs/testing.md).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@vouchflow/test-support';
import { expectNoLoss, LONG, lossFigures, Pipeline, report } from './support/pipeline.js';
import { afterWarmUp, MB, mean, rssBytes, scrapeGauge, slope, type Sample } from './support/stats.js';

const MEASURE_S = LONG ? 15 : 5;
const SOAK_S = Number(process.env['SOAK_SECONDS'] ?? (LONG ? 300 : 25));
/**
 * Share of the soak left out of the slopes. The worker keeps up to 10,000
 * decoded deliveries in a bounded cache (apps/worker/src/delivery-cache.ts):
 * its heap climbs until the cache is full and V8 has run its major GCs, then
 * levels off; at 200 events/s that takes about two minutes.
 */
const WARM_UP = LONG ? 0.4 : 0.25;

describe('soak at half the measured maximum rate', () => {
  const run = new Pipeline('soak');
  const { effects } = run;
  const backlog = run.backlog();
  afterAll(() => run.close());

  it(
    `memory stays flat and the backlog does not grow (${SOAK_S} s)`,
    async () => {
      // The worker's /metrics gives its V8 heap: a better leak signal than RSS, which a lazy GC inflates.
      const metricsPort = await freePort();
      const { stack, load, ingress, workers } = await run.start({ label: 's', workerEnv: { METRICS_PORT: String(metricsPort) } });
      const worker = workers[0]!;
      const processed = async () => (await effects.counts('count-b')).size;

      // 1. The maximum: as fast as the ingress answers, for MEASURE_S; the rate is what the worker completed.
      const before = await processed();
      const measureStart = performance.now();
      await load.run({ concurrency: 32, until: () => performance.now() - measureStart > MEASURE_S * 1000 });
      const measured = (performance.now() - measureStart) / 1000;
      const ackRate = load.acked.size / measured;
      const doneRate = ((await processed()) - before) / measured;
      const maxRate = Math.min(ackRate, doneRate);
      await effects.settle(load.acked, 120_000);
      await backlog.drained(60_000, 'queues drained after the measurement');

      // 2. Half of it, sampling memory and backlog every second.
      const rate = Math.max(10, Math.floor(maxRate / 2));
      const mem = { ingress: [] as Sample[], worker: [] as Sample[], workerHeap: [] as Sample[], ingressHeap: [] as Sample[] };
      const queued: Sample[] = [];
      const soakStart = performance.now();
      const sampling = (async () => {
        while (performance.now() - soakStart < SOAK_S * 1000) {
          const t = (performance.now() - soakStart) / 1000;
          const ri = rssBytes(ingress.process.pid!);
          const rw = rssBytes(worker.process.pid!);
          if (ri !== undefined) mem.ingress.push({ t, value: ri / MB });
          if (rw !== undefined) mem.worker.push({ t, value: rw / MB });
          const [hw, hi] = await Promise.all([
            // The worker prefixes its process metrics (vouchflow_worker_…), the ingress does not.
            scrapeGauge(`http://127.0.0.1:${metricsPort}/metrics`, 'vouchflow_worker_nodejs_heap_size_used_bytes'),
            scrapeGauge(`${stack.metricsBase}/metrics`, 'nodejs_heap_size_used_bytes'),
          ]);
          if (hw !== undefined) mem.workerHeap.push({ t, value: hw / MB });
          if (hi !== undefined) mem.ingressHeap.push({ t, value: hi / MB });
          queued.push({ t, value: await backlog.total() });
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      const ackedBeforeSoak = load.acked.size;
      await load.run({ ratePerSec: rate, concurrency: 16, until: () => performance.now() - soakStart > SOAK_S * 1000 });
      await sampling;
      const soakSeconds = (performance.now() - soakStart) / 1000;
      const achieved = (load.acked.size - ackedBeforeSoak) / soakSeconds;
      await load.resendRefused(30_000);

      const tally = await effects.settle(load.acked, 120_000);
      const drainStart = performance.now();
      const drained = await backlog.drained(60_000, 'queues drained after the soak');
      const drainMs = performance.now() - drainStart;

      const third = Math.max(1, Math.floor(queued.length / 3));
      const backlogFirst = mean(queued.slice(0, third).map((s) => s.value));
      const backlogLast = mean(queued.slice(-third).map((s) => s.value));
      const perMin = (s: Sample[]) => Number((slope(afterWarmUp(s, WARM_UP)) * 60).toFixed(2));
      const quarters = (s: Sample[]) =>
        [0, 1, 2, 3].map((q) =>
          Math.round(mean(s.slice(Math.floor((q * s.length) / 4), Math.floor(((q + 1) * s.length) / 4)).map((x) => x.value))),
        );
      const range = (s: Sample[]) => [Math.round(Math.min(...s.map((x) => x.value))), Math.round(Math.max(...s.map((x) => x.value)))];
      const figures = {
        measuredMaxRate: Math.round(maxRate),
        ackRateAtMax: Math.round(ackRate),
        processedRateAtMax: Math.round(doneRate),
        soakRate: rate,
        achievedRate: Number(achieved.toFixed(1)),
        soakSeconds: Math.round(soakSeconds),
        events: load.acked.size,
        statuses: load.statusSummary(),
        ingressRssMB: range(mem.ingress),
        workerRssMB: range(mem.worker),
        ingressRssSlopeMBPerMin: perMin(mem.ingress),
        workerRssSlopeMBPerMin: perMin(mem.worker),
        ingressHeapMB: mem.ingressHeap.length > 0 ? range(mem.ingressHeap) : null,
        workerHeapMB: mem.workerHeap.length > 0 ? range(mem.workerHeap) : null,
        ingressHeapSlopeMBPerMin: perMin(mem.ingressHeap),
        workerHeapSlopeMBPerMin: perMin(mem.workerHeap),
        // Mean of each quarter of the run: a plateau (a bounded cache filling up) versus a steady climb (a leak).
        workerHeapQuartersMB: quarters(mem.workerHeap),
        workerRssQuartersMB: quarters(mem.worker),
        ingressRssQuartersMB: quarters(mem.ingress),
        backlogMeanFirstThird: Math.round(backlogFirst),
        backlogMeanLastThird: Math.round(backlogLast),
        backlogMax: Math.max(...queued.map((s) => s.value)),
        backlogSlopePerS: Number(slope(queued).toFixed(2)),
        drainAfterSoakMs: Math.round(drainMs),
        ...lossFigures(tally),
      };
      report('soak', figures);

      expectNoLoss(tally);
      expect(drained).toBe(true);
      // The ingress kept up: the rate asked for was delivered (within 15%: timers on a busy machine).
      expect(achieved).toBeGreaterThan(rate * 0.85);
      // No growing backlog: at half the maximum the worker keeps up, so what waits stays around
      // a second's worth of deliveries and does not climb from the first third to the last.
      expect(backlogLast).toBeLessThanOrEqual(backlogFirst + rate);
      expect(figures.backlogMax).toBeLessThan(rate * 5);
      // Memory. The long run is strict on slopes after warm-up: on the V8 heap (what a leak grows) and,
      // looser, on RSS (GC and the allocator swing it by ±40 MB around a flat heap, ±15 MB/min of slope
      // over a few minutes). 25 s cannot tell a slope from a GC sawtooth, so the short run only caps
      // the size (a gross leak); its slopes are reported.
      if (LONG) {
        expect(figures.ingressHeapSlopeMBPerMin).toBeLessThan(5);
        expect(figures.workerHeapSlopeMBPerMin).toBeLessThan(5);
        expect(figures.ingressRssSlopeMBPerMin).toBeLessThan(30);
        expect(figures.workerRssSlopeMBPerMin).toBeLessThan(30);
      } else {
        expect(Math.max(...mem.ingress.map((x) => x.value), ...mem.worker.map((x) => x.value))).toBeLessThan(1024);
        expect(Math.max(...mem.ingressHeap.map((x) => x.value), ...mem.workerHeap.map((x) => x.value))).toBeLessThan(768);
      }
      expect(mem.workerHeap.length, 'worker heap samples from /metrics').toBeGreaterThan(0);
      expect(mem.ingressHeap.length, 'ingress heap samples from /metrics').toBeGreaterThan(0);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    (SOAK_S + MEASURE_S) * 1000 + 240_000,
  );
});
