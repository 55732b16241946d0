/*
 * `pnpm bench memory`: what one processed event leaves in Redis, measured on
 * the apps as users start them. A private redis-server; the ingress and the
 * worker as processes with default settings (the worker with two no-op plugin
 * handlers loaded through HANDLERS); every delivery signed and posted over
 * HTTP. A first batch fills BullMQ's capped event streams, so the figure is
 * the steady-state cost of one more event, not the streams' warm-up.
 *
 * Printed: bytes and keys per event (used_memory and DBSIZE deltas over the
 * measured batch), the bytes per event each retention window holds (keys
 * grouped by their TTL, measured with MEMORY USAGE), and what that costs in
 * Redis at 1, 10, 100 and 1,000 events/s with those windows.
 *
 * The baseline is the delivery itself: the request body's bytes, so the ratio
 * says how many times its own size an event costs to keep.
 *
 * Options: --events=N measured (default 5000), --warmup=N (default 3000),
 * --max-bytes=N exit 1 above this many bytes per event (default 1000).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { openHandlerQueue, openIntakeQueue, readHandlerRegistry } from '@vouchflow/pipeline';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { freePort, startApp, startRedisServer, type AppProcess } from '@vouchflow/test-support';

const { values } = parseArgs({
  // `pnpm bench memory -- --events=N` passes the `--` along.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    events: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '3000' },
    'max-bytes': { type: 'string', default: '1000' },
  },
});
const EVENTS = Number(values.events);
const WARMUP = Number(values.warmup);
const MAX_BYTES = Number(values['max-bytes']);
const SEED = resolve(import.meta.dirname, '../packages/schema/fixtures/points_added.json');
const seed = JSON.parse(readFileSync(SEED, 'utf8')) as { event: { id: string }; data: { transaction: { id: string } } };
const SECRET = randomBytes(24).toString('hex');
const PREFIX = 'vouchflow';

function body(tag: string, i: number): string {
  const d = structuredClone(seed);
  d.event.id = `evcus_${tag}_${i}`;
  d.data.transaction.id = `vtx_${tag}_${i}`;
  return JSON.stringify(d);
}

async function send(url: string, tag: string, count: number): Promise<number> {
  let next = 0;
  let bytes = 0;
  const lane = async () => {
    while (next < count) {
      const b = body(tag, next++);
      bytes += Buffer.byteLength(b);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(b, SECRET) },
        body: b,
      });
      if (res.status !== 202) throw new Error(`delivery answered ${res.status}: ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, lane));
  return bytes / count;
}

/** Waits until no queue of the deployment (intake and every handler's) holds work that is waiting, active or delayed. */
async function drained(redis: Redis): Promise<void> {
  const queues = [
    openIntakeQueue({ connection: redis, queuePrefix: PREFIX }),
    ...[...(await readHandlerRegistry(redis, PREFIX)).keys()].map((h) => openHandlerQueue(h, { connection: redis, queuePrefix: PREFIX })),
  ];
  try {
    const pending = async (): Promise<number> => {
      let total = 0;
      for (const q of queues) {
        const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
        total += Object.values(c).reduce((a, b) => a + b, 0);
      }
      return total;
    };
    // Polled: the bench watches the processes from outside, as an operator would.
    let quietPolls = 0;
    while (quietPolls < 3) {
      quietPolls = (await pending()) === 0 ? quietPolls + 1 : 0;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
}

const usedMemory = async (redis: Redis): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN);

/** Bytes of the keys of one measured batch, grouped by the window (TTL) that will remove them. */
async function byWindow(redis: Redis, tag: string): Promise<Map<string, { keys: number; bytes: number; ttlMs: number }>> {
  const groups = new Map<string, { keys: number; bytes: number; ttlMs: number }>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${tag}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const [bytes, ttl] = await Promise.all([redis.memory('USAGE', key, 'SAMPLES', 0), redis.pttl(key)]);
      const hours = ttl < 0 ? -1 : Math.round(ttl / 3_600_000);
      const family = key.replace(/^\{[^}]*\}:/, '').replace(new RegExp(`[^:]*${tag}.*$`), '<id>');
      const label = `${hours < 0 ? 'no TTL' : `${hours} h`} · ${family}`;
      const g = groups.get(label) ?? { keys: 0, bytes: 0, ttlMs: ttl };
      g.keys += 1;
      g.bytes += Number(bytes ?? 0);
      groups.set(label, g);
    }
  } while (cursor !== '0');
  return groups;
}

/** MEMORY USAGE of every key that is not named after one event (queues' sets, streams, counters). */
async function sharedKeys(redis: Redis): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if (/evcus_|vtx_/.test(key)) continue;
      sizes.set(key, Number((await redis.memory('USAGE', key, 'SAMPLES', 0)) ?? 0));
    }
  } while (cursor !== '0');
  return sizes;
}

const server = await startRedisServer();
const redis = new Redis(server.url, { maxRetriesPerRequest: null });
const apps: AppProcess[] = [];
try {
  const port = await freePort();
  const ingress = startApp('ingress', { REDIS_URL: server.url, PORT: String(port), VOUCHERIFY_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'info' });
  apps.push(ingress);
  const worker = startApp('worker', {
    REDIS_URL: server.url,
    HANDLERS: './bench/_noop-handlers.mjs',
    METRICS_PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  });
  apps.push(worker);
  await Promise.all([
    ingress.waitForLog((l) => l.message === 'ingress listening', 30_000),
    worker.waitForLog((l) => l.message === 'worker started', 30_000),
  ]);
  const url = `http://127.0.0.1:${port}/webhooks/voucherify`;

  console.log(`warm-up: ${WARMUP} deliveries (fills BullMQ's capped event streams)`);
  await send(url, 'warm', WARMUP);
  await drained(redis);

  const [memBefore, keysBefore, sharedBefore] = [await usedMemory(redis), await redis.dbsize(), await sharedKeys(redis)];
  const tag = `m${randomBytes(3).toString('hex')}`;
  console.log(`measured: ${EVENTS} deliveries`);
  const bodyBytes = await send(url, tag, EVENTS);
  await drained(redis);
  const [memAfter, keysAfter] = [await usedMemory(redis), await redis.dbsize()];

  const bytesPerEvent = (memAfter - memBefore) / EVENTS;
  const keysPerEvent = (keysAfter - keysBefore) / EVENTS;
  const groups = await byWindow(redis, tag);
  console.log(`\nper processed event (default settings, 2 no-op plugin handlers):`);
  console.log(
    `  Redis used_memory: ${bytesPerEvent.toFixed(0)} B   keys: ${keysPerEvent.toFixed(2)}   delivery body: ${bodyBytes.toFixed(0)} B`,
  );
  console.log(`\n  by window (keys named after the event, MEMORY USAGE):`);
  const windows = new Map<number, number>();
  for (const [label, g] of [...groups.entries()].sort((a, b) => b[1].bytes - a[1].bytes)) {
    console.log(`    ${label.padEnd(48)} ${(g.keys / EVENTS).toFixed(2)} keys  ${(g.bytes / EVENTS).toFixed(0).padStart(6)} B`);
    if (g.ttlMs > 0) {
      const hours = Math.round(g.ttlMs / 3_600_000);
      windows.set(hours, (windows.get(hours) ?? 0) + g.bytes / EVENTS);
    }
  }
  const named = [...windows.values()].reduce((a, b) => a + b, 0);
  const sharedAfter = await sharedKeys(redis);
  const grown = [...sharedAfter]
    .map(([key, bytes]) => [key, bytes - (sharedBefore.get(key) ?? 0)] as const)
    .filter(([, delta]) => Math.abs(delta) >= EVENTS)
    .sort((a, b) => b[1] - a[1]);
  console.log(`\n  keys shared by all events that grew (MEMORY USAGE delta per event):`);
  for (const [key, delta] of grown) console.log(`    ${key.padEnd(48)} ${(delta / EVENTS).toFixed(0).padStart(6)} B`);
  if (grown.length === 0) console.log('    none');
  console.log(
    `  the rest (allocator rounding, Redis's own tables): ${(bytesPerEvent - named - grown.reduce((a, [, d]) => a + d / EVENTS, 0)).toFixed(0)} B`,
  );
  // What is not in a key named after the event (sorted sets, streams) is charged to the longest window.
  const longest = Math.max(0, ...windows.keys());
  if (longest > 0) windows.set(longest, (windows.get(longest) ?? 0) + Math.max(0, bytesPerEvent - named));
  console.log(`\n  sizing at a steady rate with these windows (bytes per event × rate × window):`);
  console.log(`    ${'window'.padEnd(10)}${'B/event'.padStart(9)}${[1, 10, 100, 1000].map((r) => `${r} ev/s`.padStart(12)).join('')}`);
  const gb = (bytes: number) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(0)} MB`);
  let total = [0, 0, 0, 0];
  for (const [hours, b] of [...windows.entries()].sort((a, z) => a[0] - z[0])) {
    const row = [1, 10, 100, 1000].map((r) => b * r * hours * 3600);
    total = total.map((t, i) => t + row[i]!);
    console.log(`    ${`${hours} h`.padEnd(10)}${b.toFixed(0).padStart(9)}${row.map((x) => gb(x).padStart(12)).join('')}`);
  }
  console.log(`    ${'total'.padEnd(10)}${bytesPerEvent.toFixed(0).padStart(9)}${total.map((x) => gb(x).padStart(12)).join('')}`);
  console.log(`\nratio to the delivery body: ${(bytesPerEvent / bodyBytes).toFixed(2)}× its own size`);
  console.log(`bytes per event: ${bytesPerEvent.toFixed(0)} (must be <= ${MAX_BYTES})`);
  process.exitCode = bytesPerEvent <= MAX_BYTES ? 0 : 1;
} finally {
  for (const app of apps) await app.stop();
  await redis.quit();
  await server.stop();
}
