import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load as parseYaml } from 'js-yaml';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';

const ROOT = resolve(import.meta.dirname, '..');
const fixture = JSON.parse(readFileSync(resolve(ROOT, 'packages/schema/fixtures/points_added.json'), 'utf8')) as { event: { id: string } };

interface Exported {
  /** Sample names a query can use: counters and gauges as named, histograms with _bucket, _sum and _count. */
  names: Set<string>;
  /** Label names seen per sample name. */
  labels: Map<string, Set<string>>;
}

/** Reads Prometheus's text format: `# TYPE` lines for the names, samples for their labels. */
function parseExposition(text: string, into: Exported): void {
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      const names = kind === 'histogram' || kind === 'summary' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`, name] : [name];
      for (const n of names) into.names.add(n);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (sample) {
      const labels = into.labels.get(sample[1]!) ?? new Set<string>();
      for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(m[1]!);
      into.labels.set(sample[1]!, labels);
    }
  }
}

/** Labels Prometheus adds at scrape time, and histogram buckets'. */
const SCRAPE_LABELS = new Set(['job', 'instance', 'le']);
// PromQL's own words, so what is left of an expression are metric and label names.
const metricNames = (expr: string) => [...new Set(expr.match(/\bvouchflow_[a-z0-9_]+\b/g) ?? [])];

/** Every label an expression groups by or selects on, with the metric it selects from (undefined for `by`). */
function labelUses(expr: string): Array<{ metric?: string; label: string }> {
  const uses: Array<{ metric?: string; label: string }> = [];
  for (const m of expr.matchAll(/\b(vouchflow_[a-z0-9_]+)\{([^}]*)\}/g)) {
    for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) uses.push({ metric: m[1]!, label: l[1]! });
  }
  for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    for (const l of m[1]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      uses.push({ label: l });
  }
  return uses;
}

describe('the Grafana dashboard and the alert rules name what the apps export', () => {
  const secret = 'observability-secret';
  const queuePrefix = uniquePrefix('obs');
  let ingress: AppProcess;
  let worker: AppProcess;
  const exported: Exported = { names: new Set(), labels: new Map() };

  beforeAll(async () => {
    const [port, metricsPort, ingressMetricsPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: queuePrefix,
      VOUCHERIFY_WEBHOOK_SECRET: secret,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      INGRESS_METRICS_PORT: String(ingressMetricsPort),
      HANDLERS: 'log',
    };
    ingress = startApp('ingress', env);
    worker = startApp('worker', env);
    await Promise.all([
      ingress.waitForLog((l) => l.message === 'ingress listening', 30_000),
      worker.waitForLog((l) => l.message === 'worker started', 30_000),
    ]);
    // One delivery through, so labelled series have samples whose labels can be compared.
    const body = JSON.stringify(fixture);
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/voucherify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, secret) },
      body,
    });
    expect(res.status).toBe(202);
    await worker.waitForLog((l) => l.message === 'event handled' && l['eventId'] === fixture.event.id);
    for (const url of [`http://127.0.0.1:${ingressMetricsPort}/metrics`, `http://127.0.0.1:${metricsPort}/metrics`]) {
      parseExposition(await (await fetch(url)).text(), exported);
    }
  });

  afterAll(async () => {
    await Promise.all([ingress?.stop(), worker?.stop()]);
    await deletePrefix(testRedisUrl(), queuePrefix);
  });

  let labelsChecked = 0;
  /**
   * Names must be exported. Labels are checked against the samples one
   * delivery produced; a labelled series nothing has touched yet (no dead
   * letters in this run, say) has no samples, so its labels cannot be seen.
   */
  const checkExpr = (where: string, expr: string) => {
    const names = metricNames(expr);
    expect(names.length, `${where} names no vouchflow metric: ${expr}`).toBeGreaterThan(0);
    for (const name of names) expect(exported.names.has(name), `${where}: ${name} is not exported by the apps`).toBe(true);
    const seen = names.filter((n) => exported.labels.has(n));
    if (seen.length < names.length) return;
    labelsChecked += 1;
    const allowed = new Set([...SCRAPE_LABELS, ...seen.flatMap((n) => [...exported.labels.get(n)!])]);
    for (const use of labelUses(expr)) {
      const own = use.metric ? new Set([...SCRAPE_LABELS, ...exported.labels.get(use.metric)!]) : allowed;
      expect(own.has(use.label), `${where}: label "${use.label}" is not on ${use.metric ?? names.join(', ')}`).toBe(true);
    }
  };

  it('the scrape found the metrics the dashboard is about', () => {
    for (const name of ['vouchflow_ingress_requests_total', 'vouchflow_handler_completed_total', 'vouchflow_queue_depth']) {
      expect(exported.names.has(name)).toBe(true);
    }
  });

  it('every dashboard query names metrics and labels the apps export', () => {
    const dashboard = JSON.parse(readFileSync(resolve(ROOT, 'deploy/grafana/vouchflow.json'), 'utf8')) as {
      uid: string;
      panels: Array<{ id: number; type: string; title: string; panels?: unknown[]; targets?: Array<{ expr: string }> }>;
    };
    expect(dashboard.uid).toBe('vouchflow');
    // Grafana tells panels (and their links, repeats, library panels) apart by id.
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    expect(queries.length).toBeGreaterThanOrEqual(15);
    for (const { title, expr } of queries) checkExpr(`panel "${title}"`, expr);
    // Most queries are about series one delivery fills; their labels were compared too.
    expect(labelsChecked).toBeGreaterThanOrEqual(10);
    // What the dashboard must show.
    const titles = dashboard.panels.map((p) => p.title);
    for (const wanted of [
      'Intake rate by answer',
      'Acknowledgement latency',
      'Intake backlog',
      'Handler throughput',
      'Dead letters now',
      'Units in doubt by resolution',
      'Schema drift',
      'Unknown event types',
    ]) {
      expect(titles).toContain(wanted);
    }
  });

  it('the alert rules parse, and each names exported metrics', () => {
    const rules = parseYaml(readFileSync(resolve(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as {
      groups: Array<{
        name: string;
        rules: Array<{ alert: string; expr: string; labels: { severity: string }; annotations: { summary: string } }>;
      }>;
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert).sort()).toEqual([
      'VouchflowBacklogRising',
      'VouchflowCircuitOpen',
      'VouchflowDeadLetters',
      'VouchflowHandlerBacklogRising',
      'VouchflowIngressNotReady',
      'VouchflowNoDeliveries',
      'VouchflowTargetDown',
      'VouchflowUndecodableDeliveries',
      'VouchflowUnitsRanUnchecked',
    ]);
    for (const rule of all) {
      expect(['warning', 'critical']).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length).toBeGreaterThan(0);
      // `up` is Prometheus's own; everything else must be the apps'.
      if (rule.alert !== 'VouchflowTargetDown') checkExpr(`alert ${rule.alert}`, rule.expr);
    }
  });

  it('promtool accepts the rules, when Prometheus is installed', (ctx) => {
    const check = spawnSync('promtool', ['check', 'rules', resolve(ROOT, 'deploy/prometheus/alerts.yml')], { encoding: 'utf8' });
    if (check.error) ctx.skip(); // not installed (apt-get install prometheus provides it; .ci/run does)
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('SUCCESS: 9 rules found');
  });
});
