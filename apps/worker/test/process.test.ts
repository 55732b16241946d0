import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startApp, type AppProcess } from '@vouchflow/test-support';
import { Harness, delivery, waitForEvent } from './support.js';

const FIXTURE = resolve(import.meta.dirname, 'fixtures/recorder-handler.ts');

let h: Harness;
let blocking: Redis;
const apps: AppProcess[] = [];

beforeEach(() => {
  h = new Harness();
  blocking = new Redis(h.url, { maxRetriesPerRequest: null });
  h.onClose(async () => blocking.quit());
});
afterEach(async () => {
  for (const app of apps.splice(0)) await app.kill();
  await h.cleanup();
});

function startWorker(extra: Record<string, string> = {}): AppProcess {
  const app = startApp('worker', {
    REDIS_URL: h.url,
    QUEUE_PREFIX: h.prefix,
    HANDLERS: FIXTURE,
    METRICS_PORT: '0',
    BACKOFF_MS: '50',
    // Short lock and stall check so a killed worker's job is recovered within seconds.
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '500',
    HANG_FIRST: 'true',
    ...extra,
  });
  apps.push(app);
  return app;
}

const started = (app: AppProcess) => app.waitForLog((l) => l.message === 'worker started', 20_000);
/** Waits (BLPOP, no polling) for the next entry of a list the fixture writes. */
async function next(list: 'started' | 'effects', timeoutS = 20): Promise<string> {
  const got = await blocking.blpop(`{${h.prefix}}:test:${list}`, timeoutS);
  if (!got) throw new Error(`nothing on ${list} within ${timeoutS} s`);
  return got[1];
}

describe('worker process', () => {
  it('completes a job after its worker is killed with -9 mid-job and restarted', async () => {
    const first = startWorker();
    await started(first);
    const completed = waitForEvent(await h.events('intake'), 'completed', undefined, { timeoutMs: 30_000 });
    const d = delivery();
    await h.send(d);
    expect(await next('started')).toBe(`${d.eventId}:1`);
    await first.kill();

    const second = startWorker();
    await started(second);
    expect(await next('started')).toBe(`${d.eventId}:2`);
    // The crash spent no attempt: BullMQ counts attempts when a try ends, and this one never ended.
    expect(await next('effects')).toBe(`${d.eventId}:1`);
    await completed;
    expect(await h.redis.llen(`{${h.prefix}}:test:effects`)).toBe(0);
  }, 60_000);

  it('on SIGTERM lets in-flight work end, aborts what outlives the grace period, and loses nothing', async () => {
    const first = startWorker({ SHUTDOWN_GRACE_MS: '300' });
    await started(first);
    const d = delivery();
    await h.send(d);
    expect(await next('started')).toBe(`${d.eventId}:1`);
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.lines.some((l) => l.message === 'aborted by shutdown: back to the queue, no attempt spent')).toBe(true);

    const second = startWorker({ SHUTDOWN_GRACE_MS: '300' });
    await started(second);
    expect(await next('started')).toBe(`${d.eventId}:2`);
    expect(await next('effects')).toBe(`${d.eventId}:1`);
    expect(await second.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
