/*
 * Fuzzing the ingress with fast-check: random methods, paths, content types,
 * encodings, extra headers, bodies (JSON of every shape, the seed with odd
 * event ids, pretty-printed JSON, raw bytes, oversized) and signatures
 * (none, garbage, another secret's, another body's, valid over the raw or the
 * compact bytes). Properties:
 *   - never a 5XX other than 503, never a dropped connection;
 *   - a 2XX only for a body signed with the secret; nothing else reaches the
 *     intake queue (checked against what Redis holds afterwards);
 *   - every 202 is in the intake queue (acknowledged means stored);
 *   - the process survives (the real ingress process, after its own run).
 * Against the app in-process (startIngress → createApp, real Redis) and against
 * the real ingress process. FUZZ_RUNS and FUZZ_SEED override the defaults.
 */
import { createHmac } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { closeRedis, createLogger, createRedis, waitForReady, SECOND, type RedisClient } from '@vouchflow/core';
import { compactJsonWhitespace, SIGNATURE_HEADER } from '@vouchflow/schema';
import { openIntakeQueue, type IntakeJobData } from '@vouchflow/pipeline';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';
import { Writable } from 'node:stream';
import { DEFAULT_SETTINGS, type IngressSettings } from '../apps/ingress/src/config.js';
import { startIngress, type RunningIngress } from '../apps/ingress/src/ingress.js';
import { deliveryBody, HttpClient, LONG, report, SECRET } from './support/pipeline.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? (LONG ? 20_000 : 2500));
const PROCESS_RUNS = Math.max(100, Math.round(RUNS / 5));
const SEED = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : undefined;
const BODY_LIMIT = 16 * 1024;
const PATH = '/webhooks/voucherify';

type SignatureKind = 'valid' | 'valid-compact' | 'valid-upper' | 'none' | 'other-secret' | 'other-body' | 'garbage' | 'truncated';
interface Request {
  method: string;
  path: string;
  contentType: string | undefined;
  headers: Record<string, string>;
  body: Buffer;
  signature: SignatureKind;
}

const hmac = (body: Buffer | string, secret: string) => createHmac('sha256', secret).update(body).digest('hex');
const printable = (max: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
const FRAMING = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'keep-alive',
  'te',
  'trailer',
  'content-type',
]);
const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);

/** An event id as Voucherify sends it, or anything a string can be. */
const eventIdArb = fc.oneof(
  fc.stringMatching(/^evcus_[A-Za-z0-9]{4,24}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom(' ', '', '0', '1e3', 'a:b', '__proto__', 'constructor', '%00', 'ev\u0000id'),
);
const odd = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));

const bodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  // The seed with an odd event id (and transaction id), compact or pretty-printed.
  fc.tuple(eventIdArb, fc.boolean()).map(([id, pretty]) => {
    const text = deliveryBody(id);
    return Buffer.from(pretty ? JSON.stringify(JSON.parse(text), null, 2) : text);
  }),
  // An envelope whose event is anything at all.
  fc
    .record(
      {
        event: fc.oneof(fc.record({ id: fc.oneof(eventIdArb, odd), type: fc.oneof(printable(60), odd) }, { requiredKeys: [] }), odd),
        data: odd,
      },
      { requiredKeys: [] },
    )
    .map((o) => Buffer.from(JSON.stringify(o))),
  // Any JSON, any text, any bytes.
  fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)),
  fc.string({ unit: 'binary', maxLength: 500 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 800 }).map((a) => Buffer.from(a)),
  // Truncated JSON, and bodies over the limit.
  fc.tuple(eventIdArb, fc.nat()).map(([id, n]) => {
    const text = deliveryBody(id);
    return Buffer.from(text.slice(0, n % text.length));
  }),
  fc
    .integer({ min: BODY_LIMIT - 10, max: BODY_LIMIT * 3 })
    .map((n) => Buffer.from(JSON.stringify({ event: { id: 'evcus_big', type: 'x' }, pad: 'x'.repeat(n) }))),
);

const signatureArb = fc.constantFrom<SignatureKind>(
  'valid',
  'valid',
  'valid',
  'valid-compact',
  'valid-upper',
  'none',
  'other-secret',
  'other-body',
  'garbage',
  'truncated',
);

const contentTypeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  fc.constantFrom(
    'application/json; charset=utf-8',
    'application/vnd.voucherify+json',
    'APPLICATION/JSON',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset=nonsense',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    '',
  ),
  printable(40),
  fc.constant(undefined),
);

const extraHeadersArb = fc.dictionary(
  fc.oneof(
    fc.constantFrom('content-encoding', 'accept', 'x-forwarded-for', 'user-agent', 'accept-encoding', 'x-voucherify-signature-2'),
    // Not the headers that frame the message: the client sets those.
    token.filter((t) => !FRAMING.has(t)),
  ),
  fc.oneof(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'gzip, deflate', 'x-unknown'), printable(30)),
  { maxKeys: 3 },
);

const requestArb: fc.Arbitrary<Request> = fc.record({
  method: fc.oneof({ weight: 12, arbitrary: fc.constant('POST') }, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD')),
  path: fc.oneof(
    { weight: 12, arbitrary: fc.constant(PATH) },
    fc.constantFrom(`${PATH}/`, `${PATH}?x=1`, '/WEBHOOKS/VOUCHERIFY', '/webhooks', '/', '/readyz', '/metrics', '/%zz'),
    token.map((t) => `/${t}`),
  ),
  contentType: contentTypeArb,
  headers: extraHeadersArb,
  body: bodyArb,
  signature: signatureArb,
});

function signatureFor(kind: SignatureKind, body: Buffer): string | undefined {
  switch (kind) {
    case 'valid':
      return hmac(body, SECRET);
    case 'valid-compact':
      return hmac(compactJsonWhitespace(body), SECRET);
    case 'valid-upper':
      return hmac(body, SECRET).toUpperCase();
    case 'none':
      return undefined;
    case 'other-secret':
      return hmac(body, 'not-the-secret');
    case 'other-body':
      return hmac(Buffer.concat([body, Buffer.from(' ')]), SECRET);
    case 'garbage':
      return 'z'.repeat(64);
    case 'truncated':
      return hmac(body, SECRET).slice(0, 63);
  }
}

/** What one fuzz campaign saw. */
class Observed {
  readonly statuses = new Map<number, number>();
  /** Raw bodies sent with a signature made with the secret over these very bytes (or their compact form). */
  readonly signedBodies = new Set<string>();
  /** Event ids answered 202 (stored now). */
  readonly accepted = new Set<string>();
  readonly violations: string[] = [];
  /** A few 503 answers, for the report (with Redis up, only a failure of Redis itself should cause one). */
  readonly unavailable: string[] = [];

  note(status: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }
}

async function fire(client: HttpClient, r: Request, seen: Observed): Promise<void> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  const signature = signatureFor(r.signature, r.body);
  if (signature !== undefined) headers[SIGNATURE_HEADER] = signature;
  const signed = r.signature === 'valid' || r.signature === 'valid-compact' || r.signature === 'valid-upper';
  if (signed) seen.signedBodies.add(r.body.toString('utf8'));
  const bodyAllowed = r.method !== 'GET' && r.method !== 'HEAD';
  const answer = await client.send(r.method, r.path, bodyAllowed ? r.body : undefined, headers, 10 * SECOND);
  seen.note(answer.status);
  const label = `${r.method} ${r.path} ct=${JSON.stringify(r.contentType)} sig=${r.signature} body=${r.body.length}B → ${answer.status} ${answer.body.slice(0, 120)}`;
  const problems: string[] = [];
  if (answer.status === 503 && seen.unavailable.length < 5) seen.unavailable.push(label);
  // Only what Voucherify sends must never be cut off: another method with a large body is answered (404)
  // before its body is read, and the connection may then be reset while the client is still writing.
  if (answer.status === 0 && r.method === 'POST') problems.push(`connection dropped: ${label}`);
  if (answer.status >= 500 && answer.status !== 503) problems.push(`5XX: ${label}`);
  if (answer.status >= 200 && answer.status < 300 && r.method === 'POST' && r.path.toLowerCase().startsWith(PATH)) {
    if (!signed) problems.push(`accepted without a valid signature: ${label}`);
    if (answer.status === 202) {
      const parsed = JSON.parse(answer.body) as { eventId?: string };
      if (typeof parsed.eventId === 'string') {
        if (seen.accepted.has(parsed.eventId))
          problems.push(`accepted twice (202, not 200 duplicate): ${JSON.stringify(parsed.eventId)} ${label}`);
        seen.accepted.add(parsed.eventId);
      }
    }
  }
  if (problems.length > 0) {
    seen.violations.push(...problems);
    throw new Error(problems.join('; '));
  }
}

/** Every intake job's body must be one we signed; every 202 must be there. */
async function checkIntake(redisUrl: string, queuePrefix: string, seen: Observed): Promise<{ stored: number }> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = openIntakeQueue({ connection, queuePrefix });
  try {
    const jobs = await queue.getJobs(['wait', 'prioritized', 'delayed', 'active', 'completed', 'failed'], 0, -1);
    const data: IntakeJobData[] = jobs.filter((j) => j !== undefined).map((j) => j.data);
    const unsigned = data.filter((d) => !seen.signedBodies.has(d.body)).map((d) => d.eventId);
    const storedIds = new Set(data.map((d) => d.eventId));
    const missing = [...seen.accepted].filter((id) => !storedIds.has(id));
    expect(unsigned, 'intake jobs whose body was not signed with the secret').toEqual([]);
    expect(missing, 'event ids answered 202 but absent from the intake queue').toEqual([]);
    return { stored: data.length };
  } finally {
    await queue.close();
    await connection.quit();
  }
}

const summary = (m: Map<number, number>) => Object.fromEntries([...m.entries()].sort(([a], [b]) => a - b).map(([s, n]) => [String(s), n]));

describe('fuzzing the ingress', () => {
  const url = testRedisUrl();

  describe('in-process (startIngress → createApp, real Redis)', () => {
    const queuePrefix = uniquePrefix('fuzz');
    let redis: RedisClient | undefined;
    let ingress: RunningIngress | undefined;
    let client: HttpClient | undefined;

    afterAll(async () => {
      client?.close();
      await ingress?.stop();
      if (redis) await closeRedis(redis);
      await deletePrefix(url, queuePrefix);
    });

    it(`${RUNS} random requests: no 5XX but 503, no unsigned event stored, every 202 stored`, async () => {
      redis = createRedis({ urls: [url], role: 'request-path', connectionName: 'fuzz' });
      redis.on('error', () => {});
      await waitForReady(redis, 10 * SECOND);
      const settings: IngressSettings = {
        ...DEFAULT_SETTINGS,
        secrets: [SECRET],
        queuePrefix,
        bodyLimitBytes: BODY_LIMIT,
        maxBacklog: 10_000_000,
      };
      const logger = createLogger({ level: 'error', json: true, stream: new Writable({ write: (_c, _e, cb) => cb() }) });
      ingress = await startIngress({ settings, redis, logger, host: '127.0.0.1' });
      client = new HttpClient(ingress.url, { keepAlive: false });
      const seen = new Observed();
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(requestArb, (r) => fire(client!, r, seen)),
        { numRuns: RUNS, seed: SEED },
      );
      const seconds = (performance.now() - started) / 1000;
      const { stored } = await checkIntake(url, queuePrefix, seen);
      expect((await client.get('/healthz')).status).toBe(200);
      report('fuzz-in-process', {
        runs: RUNS,
        seconds: Number(seconds.toFixed(1)),
        statuses: summary(seen.statuses),
        accepted: seen.accepted.size,
        stored,
        unavailable: seen.unavailable,
      });
      // The campaign must have reached both sides of the signature check.
      expect(seen.statuses.get(202) ?? 0).toBeGreaterThan(RUNS / 50);
      expect(seen.statuses.get(401) ?? 0).toBeGreaterThan(RUNS / 50);
    });
  });

  describe('the real ingress process', () => {
    const queuePrefix = uniquePrefix('fuzzp');
    let app: AppProcess | undefined;
    let client: HttpClient | undefined;

    afterAll(async () => {
      client?.close();
      await app?.kill();
      await deletePrefix(url, queuePrefix);
    });

    it(`${PROCESS_RUNS} random requests: same properties, and the process survives`, async () => {
      const port = await freePort();
      app = startApp('ingress', {
        REDIS_URL: url,
        QUEUE_PREFIX: queuePrefix,
        PORT: String(port),
        VOUCHERIFY_WEBHOOK_SECRET: SECRET,
        BODY_LIMIT: String(BODY_LIMIT),
        LOG_LEVEL: 'info',
      });
      await app.waitForLog((l) => l.message === 'ingress listening', 30_000);
      client = new HttpClient(`http://127.0.0.1:${port}`, { keepAlive: false });
      const seen = new Observed();
      await fc.assert(
        fc.asyncProperty(requestArb, (r) => fire(client!, r, seen)),
        { numRuns: PROCESS_RUNS, seed: SEED },
      );
      const { stored } = await checkIntake(url, queuePrefix, seen);
      expect((await client.get('/healthz')).status).toBe(200);
      expect(app.process.exitCode).toBeNull();
      expect(app.otherOutput).toEqual([]);
      report('fuzz-process', {
        runs: PROCESS_RUNS,
        statuses: summary(seen.statuses),
        accepted: seen.accepted.size,
        stored,
        unavailable: seen.unavailable,
      });
    });
  });
});
