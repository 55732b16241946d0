/*
 * "An e-mail that went out is sent again" (issue 13): one delivery, the
 * built-in e-mail handler sending to a real SMTP server on loopback, and a
 * plugin that works for a long time. The worker (a real process, as
 * `pnpm start:worker` runs it) is killed with SIGKILL one second after the
 * e-mail went out, while the slow sibling still runs; a new worker takes the
 * delivery up again. The e-mail must not go out a second time, and the slow
 * effect must be completed.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { openIntakeQueue } from '@vouchflow/pipeline';
import { deletePrefix, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { startSmtpSink, type SmtpSink } from './support/smtp-sink.js';

const ROOT = resolve(import.meta.dirname, '..');
const SLOW_HANDLER = resolve(import.meta.dirname, 'fixtures/slow-handler.ts');
const fixture = JSON.parse(readFileSync(resolve(ROOT, 'packages/handlers/fixtures/points_added_with_email.json'), 'utf8')) as {
  event: Record<string, unknown>;
  data: { transaction: Record<string, unknown> } & Record<string, unknown>;
};
// The slow plugin works four leases long: its claim must be renewed, not run out.
const LEASE_MS = 2000;
const SLOW_MS = 8000;

describe('a worker killed while a slow sibling runs, after the fast effect', () => {
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closers.reverse()) await close();
    closers.length = 0;
  });

  it('sends the e-mail exactly once and completes the slow effect after the restart', async () => {
    const url = testRedisUrl();
    const prefix = uniquePrefix('slowsib');
    const ledgerKey = `{${prefix}}:ledger`;
    const redis = new Redis(url, { maxRetriesPerRequest: null });
    const sink: SmtpSink = await startSmtpSink();
    closers.push(
      () => sink.close(),
      async () => {
        await deletePrefix(url, prefix);
        await redis.quit();
      },
    );
    const env = {
      REDIS_URL: url,
      QUEUE_PREFIX: prefix,
      HANDLERS: `email,${SLOW_HANDLER}`,
      SMTP_URL: sink.url,
      SLOW_MS: String(SLOW_MS),
      SLOW_KEY: ledgerKey,
      SLOW_EFFECTS_URL: url,
      LOCK_DURATION_MS: String(LEASE_MS),
      STALLED_INTERVAL_MS: '500',
      METRICS_PORT: '0',
    };
    const workers: AppProcess[] = [];
    const startWorker = async () => {
      const w = startApp('worker', env);
      workers.push(w);
      closers.push(() => w.stop('SIGTERM', 5000));
      await w.waitForLog((l) => l.message === 'worker started', 30_000);
      return w;
    };

    const first = await startWorker();
    const eventId = `evcus_slowsib_${Date.now()}`;
    const body = JSON.stringify({
      ...fixture,
      event: { ...fixture.event, id: eventId },
      data: { ...fixture.data, transaction: { ...fixture.data.transaction, id: `vtx_${eventId}` } },
    });
    const intake = openIntakeQueue({ connection: redis, queuePrefix: prefix });
    closers.push(() => intake.close());
    await intake.add(
      'delivery',
      { body, eventId, eventType: String(fixture.event['type']), receivedAt: Date.now() },
      { jobId: `ev-${eventId}` },
    );

    await sink.waitFor(1);
    // The scenario of the report: one second after the e-mail went out, the slow sibling still working.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await redis.hget(`${ledgerKey}:started`, eventId)).toBe('1');
    expect(await redis.hget(`${ledgerKey}:effects`, eventId)).toBeNull();
    await first.kill();

    const second = await startWorker();
    await second.waitForLog((l) => l.message === 'unit recorded done' && l['handler'] === 'slow', SLOW_MS + 30_000);

    expect(sink.received).toHaveLength(1);
    expect(await redis.hget(`${ledgerKey}:effects`, eventId)).toBe('1');
    // Run again after the crash: the slow unit had not been recorded done, the e-mail had.
    expect(await redis.hget(`${ledgerKey}:started`, eventId)).toBe('2');
    expect(second.lines.some((l) => l.message === 'business fact already handled: skipped' && l['handler'] === 'email')).toBe(true);
    expect(sink.received).toHaveLength(1);
  }, 90_000);
});
