/*
 * Redis Cluster: a 3-master cluster started here on loopback ports; the real
 * ingress and two real workers run against it (REDIS_CLUSTER=true, REDIS_URL =
 * the seed nodes). Intake, processing, retry with backoff, dead letters (a
 * handler's permanent failure and an undecodable delivery) and an operator's
 * retry of a dead letter must all work, and intake deduplication too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeRedis, createRedis, type RedisClient } from '@vouchflow/core';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { createDeadLetterStore, type DeadLetter, type RedisDeadLetterStore } from '@vouchflow/pipeline';
import { startRedisCluster, type RedisCluster } from '@vouchflow/test-support';
import { deliveryBody, eventually, expectNoLoss, LONG, lossFigures, Pipeline, report, SETTLE_MS, SECRET } from './support/pipeline.js';

const EVENTS = LONG ? 5000 : 300;

describe('on a 3-master Redis Cluster', () => {
  const run = new Pipeline('cluster');
  const { queuePrefix, effects } = run;
  let cluster: RedisCluster | undefined;
  let inspector: RedisClient | undefined;
  let store: RedisDeadLetterStore | undefined;
  // Last in, first out: the store, then its connection, then the cluster.
  run.defer(() => cluster?.stop());
  run.defer(() => inspector && closeRedis(inspector));
  run.defer(() => store?.close());
  afterAll(() => run.close());

  it(
    'takes in, processes, retries and dead-letters, and an operator retry of a dead letter succeeds',
    async () => {
      const started = performance.now();
      cluster = await startRedisCluster({ masters: 3 });
      const clusterUpMs = performance.now() - started;
      const { stack, client, load } = await run.start({
        label: 'c',
        redisUrl: cluster.urls.join(','),
        cluster: true,
        workers: 2,
        workerEnv: { MAX_ATTEMPTS: '6', BACKOFF_MS: '200' },
      });

      // Ordinary events, plus one count-a refuses for good, one it fails twice, one that cannot decode.
      await load.run({ count: EVENTS, concurrency: 16 });
      const perm = `evcus_${queuePrefix}-perm-1`;
      const flaky = `evcus_${queuePrefix}-flaky-1`;
      const special = await Promise.all([load.one(perm), load.one(flaky)]);
      const undecodableId = `evcus_${queuePrefix}_undecodable`;
      const undecodableBody = JSON.stringify({
        event: { id: undecodableId, type: 'customer.voucher.loyalty_card.points_added' },
        data: {},
      });
      const undecodable = await client.send('POST', '/webhooks/voucherify', undecodableBody, {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signBody(undecodableBody, SECRET),
      });
      const again = await client.deliver(deliveryBody(`evcus_${queuePrefix}_c_0`));

      const ordinary = [...load.acked].filter((id) => id !== perm);
      const tally = await effects.settle(ordinary, SETTLE_MS);
      const permB = await effects.settle([perm], 30_000, ['count-b']);

      inspector = createRedis({ urls: cluster.urls, cluster: true, role: 'worker', connectionName: 'cluster-test' });
      store = createDeadLetterStore({ connection: inspector, queuePrefix });
      const letters = await eventually(
        'two dead letters (count-a permanent failure, undecodable delivery)',
        async () => {
          const list = await store!.list();
          return list.length >= 2 ? list : undefined;
        },
        30_000,
        200,
      );
      const permLetter = letters.find((l) => l.eventId === perm);
      const decodeLetter = letters.find((l) => l.eventId === undecodableId);
      const flakyTries = await effects.tries('count-a', flaky);

      // The operator fixes the downstream and retries the dead letter.
      await effects.redis.set(`${effects.key}:healed`, '1');
      const retried = permLetter ? await store.retry(permLetter.id) : false;
      const afterRetry = await effects.settle([perm], 30_000, ['count-a']);
      const remaining: DeadLetter[] = await eventually(
        'the retried dead letter gone from the store',
        async () => {
          const list = await store!.list({ handler: 'count-a' });
          return list.some((l) => l.eventId === perm) ? undefined : list;
        },
        30_000,
        200,
      );

      const slot = Number(await inspector.call('CLUSTER', 'KEYSLOT', `{${queuePrefix}}`));
      report('cluster', {
        masters: cluster.nodes.length,
        clusterUpMs: Math.round(clusterUpMs),
        hashSlot: slot,
        events: EVENTS,
        acknowledged: load.acked.size,
        statuses: load.statusSummary(),
        ...lossFigures(tally),
        flakyTriesCountA: flakyTries,
        deadLetters: letters
          .slice(0, 5)
          .map((l) => ({ handler: l.handler, eventId: l.eventId, attempts: l.attempts, reason: l.reason.slice(0, 200) })),
        deadLetterCount: letters.length,
        operatorRetry: retried,
        permEffectAfterRetry: afterRetry.lost === 0,
      });

      expect(special.map((a) => a.status)).toEqual([202, 202]);
      expect(undecodable.status).toBe(202);
      expect(again.status).toBe(200);
      expect(JSON.parse(again.body)).toMatchObject({ status: 'duplicate' });
      expect(load.acked.size).toBe(EVENTS + 2);
      expectNoLoss(tally);
      expect(permB.lost).toBe(0);
      expect(flakyTries).toBe(3);
      expect(permLetter).toMatchObject({ handler: 'count-a', attempts: 1 });
      expect(permLetter?.reason).toContain('refused for good');
      expect(decodeLetter).toMatchObject({ handler: null });
      expect(letters).toHaveLength(2);
      expect(retried).toBe(true);
      expect(afterRetry.lost).toBe(0);
      expect(afterRetry.duplicates).toBe(0);
      expect(remaining).toEqual([]);
      expect(stack.unexpectedExits()).toEqual([]);
    },
    LONG ? 600_000 : 150_000,
  );
});
