import { Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deletePrefix, freePort, startApp, startRedisServer, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { Redis } from 'ioredis';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { openIntakeQueue } from '@vouchflow/pipeline';
import { SECRET, deliveryBody, httpClient, newEventId, startTestIngress, storedJobs, type Answer, type TestIngress } from './support.js';

const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(testRedisUrl(), p);
});

/** Resolves once `server` has seen `count` requests. */
const requestsSeen = (t: TestIngress, count: number) =>
  new Promise<void>((resolve) => {
    let seen = 0;
    const onRequest = () => {
      if (++seen === count) {
        t.ingress.server.off('request', onRequest);
        resolve();
      }
    };
    t.ingress.server.on('request', onRequest);
  });

describe('graceful shutdown', () => {
  let t: TestIngress | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('finishes every request in flight, stores every acknowledged delivery, then closes, even with idle keep-alive connections', async () => {
    const redis = await startRedisServer();
    const admin = new Redis(redis.url);
    try {
      const prefix = uniquePrefix('shutdown');
      t = await startTestIngress(redis.url, prefix);
      // An idle keep-alive connection must not hold the shutdown up.
      expect((await t.client.get('/healthz')).status).toBe(200);

      // Redis answers slowly (but within the enqueue timeout), so the requests are still in flight when shutdown starts.
      await admin.client('PAUSE', 400, 'WRITE');
      const count = 60;
      const ids = Array.from({ length: count }, () => newEventId());
      const seen = requestsSeen(t, count);
      const answers: Promise<Answer>[] = ids.map((id) => t!.client.deliver(deliveryBody(id)));
      await seen;

      const stopping = t.ingress.stop();
      const all = await Promise.all(answers);
      await stopping;

      expect(all.map((a) => a.status)).toEqual(ids.map(() => 202));
      expect(t.ingress.server.listening).toBe(false);
      const stored = (await storedJobs(t.queue)).map((j) => j.data.eventId).sort();
      expect(stored).toEqual([...ids].sort());
    } finally {
      admin.disconnect();
      await t?.close();
      t = undefined;
      await redis.stop();
    }
  });

  it('answers requests that arrive on a busy keep-alive connection during shutdown and closes that connection', async () => {
    const prefix = uniquePrefix('shutdown');
    prefixes.push(prefix);
    t = await startTestIngress(testRedisUrl(), prefix);
    const seen = requestsSeen(t, 1);
    const busy = t.client.deliver(deliveryBody());
    await seen;
    const stopped = t.ingress.stop();
    const res = await busy;
    expect(res.status).toBe(202);
    expect(res.headers['connection']).toBe('close');
    await stopped;
  });
});

describe('the real process on SIGTERM', () => {
  let app: AppProcess | undefined;
  afterEach(async () => {
    await app?.kill();
    app = undefined;
  });

  const start = async (queuePrefix: string) => {
    const port = await freePort();
    app = startApp('ingress', {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: queuePrefix,
      VOUCHERIFY_WEBHOOK_SECRET: SECRET,
      PORT: String(port),
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    await app.waitForLog((l) => l.message === 'ingress listening', 30_000);
    return { app, base: `http://127.0.0.1:${port}` };
  };

  it('stores the deliveries it acknowledged and exits 0', async () => {
    const prefix = uniquePrefix('sigterm');
    prefixes.push(prefix);
    const { app: proc, base } = await start(prefix);
    const client = httpClient(base);
    try {
      const ids = Array.from({ length: 40 }, () => newEventId());
      const answers = ids.map((id) => client.deliver(deliveryBody(id)).then((a) => ({ id, status: a.status })));
      // Signal once the first is answered, while the others are still on their way.
      await Promise.race(answers);
      const exit = proc.stop('SIGTERM');
      const settled = await Promise.allSettled(answers);
      expect(await exit).toBe(0);
      expect(proc.lines.some((l) => l.message === 'shutdown complete')).toBe(true);

      // Each request was answered 202 or refused (connection refused / 503); every 202 is in Redis.
      const accepted = settled.flatMap((s) => (s.status === 'fulfilled' && s.value.status === 202 ? [s.value.id] : []));
      expect(accepted.length).toBeGreaterThan(0);
      for (const s of settled) if (s.status === 'fulfilled') expect([202, 503]).toContain(s.value.status);
      const inspector = new Redis(testRedisUrl());
      const queue = openIntakeQueue({ connection: inspector, queuePrefix: prefix });
      try {
        const storedIds = (await queue.getWaiting(0, -1)).map((job) => job.data.eventId);
        expect(storedIds).toEqual(expect.arrayContaining(accepted));
      } finally {
        await queue.close();
        inspector.disconnect();
      }
    } finally {
      client.close();
    }
  });

  it('exits at once, with 1, on a second signal while a request holds the shutdown up', async () => {
    const prefix = uniquePrefix('sigterm');
    prefixes.push(prefix);
    const { app: proc, base } = await start(prefix);
    // A request whose body never finishes keeps the server from closing.
    const socket = new Socket();
    // The process is killed with this socket open: its reset is expected.
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.connect(Number(new URL(base).port), '127.0.0.1', resolve));
    const body = deliveryBody();
    socket.write(
      `POST /webhooks/voucherify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${SIGNATURE_HEADER}: ${signBody(body, SECRET)}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    try {
      proc.process.kill('SIGTERM');
      await proc.waitForLog((l) => l.message === 'shutting down');
      const started = Date.now();
      proc.process.kill('SIGTERM');
      expect(await proc.exited).toBe(1);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(proc.lines.some((l) => l.message === 'second signal: forcing exit')).toBe(true);
    } finally {
      socket.destroy();
    }
  });
});
