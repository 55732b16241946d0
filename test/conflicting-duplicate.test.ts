import { afterAll, describe, expect, it } from 'vitest';
import { deletePrefix, freePort, runOps, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { deliveryBody, HttpClient } from './support/pipeline.js';

/*
 * A second delivery with a known event.id but a different body: answered 2XX
 * (Voucherify must not retry it), not processed, and never dropped silently:
 * a warning with both hashes, a counter, and the copy kept where
 * `pnpm ops events show` lists it. The real ingress and the real CLI.
 */

const prefix = uniquePrefix('conflict');
let ingress: AppProcess | undefined;
let client: HttpClient | undefined;

afterAll(async () => {
  client?.close();
  await ingress?.kill();
  await deletePrefix(testRedisUrl(), prefix);
});

async function opsJson(args: string[]): Promise<{ code: number | null; json: unknown; stderr: string }> {
  const run = await runOps([...args, '--json'], { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix });
  return { code: run.code, json: run.stdout ? (JSON.parse(run.stdout) as unknown) : null, stderr: run.stderr };
}

describe('a conflicting duplicate', () => {
  it('is answered 200, warned about with both hashes, counted, and kept for `pnpm ops events show`', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    ingress = startApp('ingress', {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      VOUCHERIFY_WEBHOOK_SECRET: 'chaos-secret-0123456789',
      PORT: String(port),
      INGRESS_METRICS_PORT: String(metricsPort),
    });
    await ingress.waitForLog((l) => l.message === 'ingress listening', 30_000);
    client = new HttpClient(`http://127.0.0.1:${port}`);

    const eventId = `evcus_conflict_${Date.now()}`;
    const original = deliveryBody(eventId);
    const changed = original.replace('"points":40', '"points":4000');
    expect(changed).not.toBe(original);

    expect((await client.deliver(original)).status).toBe(202);
    // The same body again (whitespace aside) is a plain duplicate.
    const same = await client.deliver(JSON.stringify(JSON.parse(original), null, 2));
    expect([same.status, JSON.parse(same.body)]).toEqual([200, { status: 'duplicate', eventId }]);
    expect(ingress.lines.filter((l) => String(l.message).startsWith('conflicting duplicate'))).toEqual([]);

    const conflicting = await client.deliver(changed);
    expect([conflicting.status, JSON.parse(conflicting.body)]).toEqual([200, { status: 'duplicate', eventId }]);
    const warning = await ingress.waitForLog((l) => String(l.message).startsWith('conflicting duplicate'));
    expect(warning).toMatchObject({ level: 'warn', eventId, kept: true });
    expect(warning['storedHash']).toMatch(/^[0-9a-f]{64}$/);
    expect(warning['receivedHash']).toMatch(/^[0-9a-f]{64}$/);
    expect(warning['storedHash']).not.toBe(warning['receivedHash']);
    // Sent again, it is counted again but kept once.
    expect((await client.deliver(changed)).status).toBe(200);

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^vouchflow_ingress_conflicting_duplicates_total 2$/m);

    const shown = await opsJson(['events', 'show', eventId]);
    expect(shown, JSON.stringify(shown)).toMatchObject({ code: 0 });
    // No worker ran, so only the kept copy tells of this event; the processed copy is the first one.
    const report = shown.json as { conflictingDuplicates: Array<{ hash: string; body: string }> };
    expect(report.conflictingDuplicates).toEqual([expect.objectContaining({ hash: warning['receivedHash'], body: changed })]);
  });
});
