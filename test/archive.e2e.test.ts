/*
 * The optional PostgreSQL archive, end to end: the real ingress and worker
 * (ARCHIVE_URL set) and `pnpm ops`. A replay after the hot window comes from
 * the archive and its handler runs; PostgreSQL going away mid-run delays
 * archiving, never processing, and nothing is lost or doubled once it is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchiveStore, journalKey, type ArchivedEvent, type ArchiveStore } from '@vouchflow/archive';
import { findDelivery } from '@vouchflow/pipeline';
import {
  createTestDatabase,
  freePort,
  runOps,
  scrapeMetric as scrape,
  startApp,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
} from '@vouchflow/test-support';
import { eventually, HANDLERS, Pipeline } from './support/pipeline.js';

/** Every archived delivery of a deployment, with its outcomes. */
const archivedOf = (store: ArchiveStore): Promise<ArchivedEvent[]> => store.findEvents({ since: 0, limit: 1000 });

const fullyArchived = (event: ArchivedEvent | undefined): boolean =>
  event !== undefined && HANDLERS.every((h) => event.outcomes.some((o) => o.handler === h && o.outcome === 'done'));

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('a replay beyond the hot window', () => {
  const pipeline = new Pipeline('archive-replay');
  let store: ArchiveStore;
  afterAll(async () => {
    await store?.close();
    await pipeline.close();
  });

  it('the worker refuses to start on an archive without its tables, naming the command that makes them', async () => {
    const worker = startApp('worker', {
      REDIS_URL: pipeline.url,
      QUEUE_PREFIX: pipeline.queuePrefix,
      HANDLERS: 'log',
      METRICS_PORT: '0',
      ARCHIVE_URL: db.url,
    });
    try {
      expect(await worker.exited).toBe(1);
    } finally {
      await worker.kill();
    }
    expect(worker.otherOutput.join('\n')).toContain('run `pnpm ops archive migrate`');
    const migrate = await runOps(['archive', 'migrate'], {
      REDIS_URL: pipeline.url,
      QUEUE_PREFIX: pipeline.queuePrefix,
      ARCHIVE_URL: db.url,
    });
    expect(migrate.code, migrate.stderr).toBe(0);
  });

  it('replays from the archive once Redis no longer holds the delivery, and the handler runs again', async () => {
    // A hot window of two seconds (DELIVERY_RETENTION_MS is the test override of DELIVERY_RETENTION_HOURS).
    const { load } = await pipeline.start({ label: 'r', workerEnv: { ARCHIVE_URL: db.url, DELIVERY_RETENTION_MS: '2000' } });
    store = createArchiveStore(db.url, pipeline.queuePrefix);
    const eventId = `evcus_${pipeline.queuePrefix}_replayed`;
    expect((await load.one(eventId)).status).toBe(202);
    const first = await pipeline.effects.settle([eventId], 30_000);
    expect(first.lost).toBe(0);

    const archived = await eventually(
      'the delivery and both outcomes archived',
      async () => {
        const event = await store.findEvent(eventId);
        return fullyArchived(event) ? event : undefined;
      },
      30_000,
    );
    expect(archived).toMatchObject({ eventId, handlers: [...HANDLERS].sort(), transactionId: `vtx_${eventId}` });
    expect(JSON.parse(archived!.body)).toMatchObject({ event: { id: eventId } });

    // The hot window ends: Redis forgets which intake job held the delivery.
    const redis = pipeline.connect(pipeline.url);
    await eventually(
      'the delivery gone from Redis',
      async () => ((await findDelivery({ connection: redis, queuePrefix: pipeline.queuePrefix }, eventId)) ? undefined : true),
      30_000,
      200,
    );

    const env = { REDIS_URL: pipeline.url, QUEUE_PREFIX: pipeline.queuePrefix, ARCHIVE_URL: db.url };
    const withoutArchive = await runOps(['replay', eventId, '--handler', 'count-a', '--json'], {
      REDIS_URL: pipeline.url,
      QUEUE_PREFIX: pipeline.queuePrefix,
    });
    expect(withoutArchive.code).not.toBe(0);
    expect(withoutArchive.stderr).toContain('no delivery of event');

    const replay = await runOps(['replay', eventId, '--handler', 'count-a', '--json'], env);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ eventId, jobs: [{ handler: 'count-a' }] });
    await eventually(
      'the replayed effect',
      async () => ((await pipeline.effects.counts('count-a')).get(eventId) === 2 ? true : undefined),
      30_000,
    );
    expect((await pipeline.effects.counts('count-b')).get(eventId)).toBe(1);
  });
});

describe('PostgreSQL away in the middle of a run', () => {
  const pipeline = new Pipeline('archive-outage');
  let proxy: TcpProxy | undefined;
  let store: ArchiveStore | undefined;
  afterAll(async () => {
    await pipeline.close();
    await store?.close();
    await proxy?.close();
  });

  it('processing goes on, the backlog grows, and every delivery and outcome lands once PostgreSQL is back', async () => {
    await runOps(['archive', 'migrate'], { REDIS_URL: pipeline.url, QUEUE_PREFIX: pipeline.queuePrefix, ARCHIVE_URL: db.url });
    const target = new URL(db.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const metricsPort = await freePort();
    const { load, stack } = await pipeline.start({
      label: 'o',
      workerEnv: { ARCHIVE_URL: viaProxy.toString(), METRICS_PORT: String(metricsPort) },
    });
    store = createArchiveStore(db.url, pipeline.queuePrefix);

    await load.run({ count: 20, concurrency: 4 });
    expect((await pipeline.effects.settle(load.acked, 30_000)).lost).toBe(0);
    await eventually(
      'the first 20 archived',
      async () => ((await archivedOf(store!)).filter(fullyArchived).length === 20 ? true : undefined),
      30_000,
    );

    await proxy.cut();
    await load.run({ count: 30, concurrency: 4 });
    expect(load.acked.size).toBe(50);
    // Processing does not wait for the archive.
    const during = await pipeline.effects.settle(load.acked, 60_000);
    expect(during.lost).toBe(0);
    await stack.workers[0]!.waitForLog((l) => l.message === 'archive write failed; will retry, processing goes on', 30_000);
    const backlog = await scrape(metricsPort, 'vouchflow_archive_backlog{state="waiting"}');
    expect(backlog).toBeGreaterThan(0);
    expect(await scrape(metricsPort, 'vouchflow_archive_write_failures_total')).toBeGreaterThan(0);

    await proxy.restore();
    const archived = await eventually(
      'all 50 deliveries and their outcomes archived',
      async () => {
        const all = await archivedOf(store!);
        return all.filter(fullyArchived).length === 50 ? all : undefined;
      },
      90_000,
      250,
    );
    // Nothing lost, nothing twice: one row per delivery, one outcome per handler.
    expect(new Set(archived.map((e) => e.eventId))).toEqual(new Set(load.acked));
    expect(archived).toHaveLength(50);
    for (const event of archived) expect(event.outcomes.map((o) => o.handler).sort()).toEqual([...HANDLERS].sort());
    await eventually(
      'the journal drained',
      async () => ((await scrape(metricsPort, 'vouchflow_archive_backlog{state="waiting"}')) === 0 ? true : undefined),
      30_000,
    );
    expect(stack.unexpectedExits()).toEqual([]);
  });
});

describe('PostgreSQL away when the worker starts', () => {
  const pipeline = new Pipeline('archive-absent');
  afterAll(async () => {
    await pipeline.close();
  });

  it('starts anyway, says so, and processes; the journal holds what waits for the archive', async () => {
    const closedPort = await freePort();
    const { load, workers } = await pipeline.start({
      label: 'a',
      workerEnv: { ARCHIVE_URL: `postgres://vouchflow@127.0.0.1:${closedPort}/nowhere` },
    });
    await workers[0]!.waitForLog((l) => l.message === 'archive unreachable at start: processing goes on, archiving waits for it');
    await load.run({ count: 5, concurrency: 2 });
    expect((await pipeline.effects.settle(load.acked, 30_000)).lost).toBe(0);
    const redis = pipeline.connect(pipeline.url);
    // Five deliveries and two outcomes each, waiting in Redis.
    await eventually(
      'the journal to hold every entry',
      async () => ((await redis.xlen(journalKey(pipeline.queuePrefix))) === 15 ? true : undefined),
      10_000,
    );
  });
});
