/*
 * Helpers of the ingress tests: a real ingress (createApp behind a real
 * server) against a real Redis, a plain HTTP client whose sockets each test
 * closes, signed deliveries and a logger whose lines the test can read.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { createLogger, createRedis, closeRedis, waitForReady, SECOND, type Logger, type RedisClient } from '@vouchflow/core';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { openIntakeQueue, type IntakeJobData } from '@vouchflow/pipeline';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll } from 'vitest';
import { deletePrefix, testRedisUrl } from '@vouchflow/test-support';
import { DEFAULT_SETTINGS, type IngressSettings } from '../src/config.js';
import { startIngress, type RunningIngress } from '../src/ingress.js';

export const SECRET = 'test-secret-0123456789';

const fixture = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../../packages/schema/fixtures/points_added.json'), 'utf8'),
) as Record<string, unknown> & { event: { id: string; type: string } };

/** A fresh event id, so tests sharing one Redis never collide. */
export const newEventId = (): string => `evcus_test_${randomBytes(8).toString('hex')}`;

/** The fixture delivery with `eventId`, as compact JSON (what Voucherify's SDKs sign). */
export function deliveryBody(eventId = newEventId(), overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...fixture, event: { ...fixture.event, id: eventId }, ...overrides });
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Milliseconds from sending to the end of the answer. */
  ms: number;
  json<T = Record<string, unknown>>(): T;
}

/** A keep-alive HTTP client; `close()` destroys its sockets. */
export interface Client {
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<Answer>;
  get(path: string): Promise<Answer>;
  /** POSTs `body` to /webhooks/voucherify with a JSON content type and a signature made with `secret`. */
  deliver(body: string, secret?: string, headers?: Record<string, string>): Promise<Answer>;
  close(): void;
}

export function httpClient(baseUrl: string): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const send = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) =>
    new Promise<Answer>((resolvePromise, reject) => {
      const started = performance.now();
      const req = request(new URL(path, baseUrl), { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolvePromise({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            ms: performance.now() - started,
            json: <T>() => JSON.parse(text) as T,
          });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    post: (path, body, headers) => send('POST', path, body, headers),
    get: (path) => send('GET', path),
    deliver: (body, secret = SECRET, headers = {}) =>
      send('POST', '/webhooks/voucherify', body, {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signBody(body, secret),
        ...headers,
      }),
    close: () => agent.destroy(),
  };
}

/** A JSON logger whose lines are kept for assertions (and not printed). */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { logger: createLogger({ level: 'debug', json: true, stream }), lines };
}

export interface TestIngress {
  ingress: RunningIngress;
  client: Client;
  redis: RedisClient;
  /** A second queue handle, on its own connection, to look at what was stored. */
  queue: Queue<IntakeJobData>;
  lines: Array<Record<string, unknown>>;
  /** Stops the ingress (if still running) and closes every connection the helper opened. */
  close(): Promise<void>;
}

/** Starts a real ingress against `redisUrl`, with settings like production's unless overridden. */
export async function startTestIngress(
  redisUrl: string,
  queuePrefix: string,
  overrides: Partial<IngressSettings> = {},
  commandTimeoutMs = SECOND,
): Promise<TestIngress> {
  const { logger, lines } = capturingLogger();
  const redis = createRedis({ urls: [redisUrl], role: 'request-path', commandTimeoutMs, connectionName: 'ingress-test' });
  redis.on('error', () => {});
  await waitForReady(redis, 10 * SECOND);
  const settings: IngressSettings = { ...DEFAULT_SETTINGS, secrets: [SECRET], queuePrefix, ...overrides };
  const ingress = await startIngress({ settings, redis, logger, host: '127.0.0.1', metricsPort: 0 });
  const client = httpClient(ingress.url);
  const inspector = createRedis({ urls: [redisUrl], role: 'worker', connectionName: 'ingress-test-inspector' });
  inspector.on('error', () => {});
  const queue = openIntakeQueue({ connection: inspector, queuePrefix });
  let stopped = false;
  return {
    ingress,
    client,
    redis,
    queue,
    lines,
    async close() {
      client.close();
      if (!stopped) {
        stopped = true;
        if (ingress.server.listening) await ingress.stop();
      }
      await queue.close();
      await closeRedis(inspector);
      await closeRedis(redis);
    },
  };
}

/** Every intake job stored under the queue, in no particular order. */
export async function storedJobs(queue: Queue<IntakeJobData>) {
  return queue.getJobs(['wait', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
}

/**
 * An intake queue of its own under `prefix`, on its own connection, for tests
 * that drive the enqueue path without HTTP. Call inside a `describe`: it opens
 * them before the tests and closes them and deletes the prefix's keys after.
 */
export function useTestQueue(prefix: string): { readonly redis: RedisClient; readonly queue: Queue<IntakeJobData> } {
  let redis: RedisClient | undefined;
  let queue: Queue<IntakeJobData> | undefined;
  beforeAll(async () => {
    redis = createRedis({ urls: [testRedisUrl()], role: 'request-path', commandTimeoutMs: 5 * SECOND });
    await waitForReady(redis, 10 * SECOND);
    queue = openIntakeQueue({ connection: redis, queuePrefix: prefix }, { skipVersionCheck: true });
  });
  afterAll(async () => {
    await queue?.close();
    if (redis) await closeRedis(redis);
    await deletePrefix(testRedisUrl(), prefix);
  });
  return {
    get redis() {
      return redis!;
    },
    get queue() {
      return queue!;
    },
  };
}
