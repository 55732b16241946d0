import { describe, expect, it } from 'vitest';
import { Job } from 'bullmq';
import { uniquePrefix } from '@vouchflow/test-support';
import { intakeJobOptions, type IntakeJobData } from '@vouchflow/pipeline';
import { bulkAdder } from '../src/bulk-add.js';
import { newEventId, useTestQueue } from './support.js';

describe('bulk-add stores jobs exactly as queue.add does', () => {
  const prefix = uniquePrefix('bulk');
  const t = useTestQueue(prefix);

  const data = (eventId: string): IntakeJobData => ({ body: `{"event":{"id":"${eventId}"}}`, eventId, eventType: 't', receivedAt: 1 });

  it('writes the same job hash, wait-list entry, event and deduplication key', async () => {
    const [a, b] = [newEventId(), newEventId()];
    const viaAdd = await t.queue.add('delivery', data(a), intakeJobOptions(a, 'n1', 3_600_000));
    const [viaBulk] = await bulkAdder(t.queue, t.redis)([{ name: 'delivery', data: data(b), opts: intakeJobOptions(b, 'n2', 3_600_000) }]);
    expect(viaBulk).toEqual({ id: intakeJobOptions(b, 'n2', 1).jobId });

    const hashA = await t.redis.hgetall(`{${prefix}}:intake:${viaAdd.id}`);
    const hashB = await t.redis.hgetall(`{${prefix}}:intake:${(viaBulk as { id: string }).id}`);
    expect(Object.keys(hashB).sort()).toEqual(Object.keys(hashA).sort());
    const same = (h: Record<string, string>) => ({ ...h, data: undefined, timestamp: undefined, deid: undefined, opts: undefined });
    expect(same(hashB)).toEqual(same(hashA));
    const opts = (h: Record<string, string>) => ({
      ...(JSON.parse(h['opts']!) as Record<string, unknown>),
      jobId: undefined,
      de: undefined,
    });
    expect(opts(hashB)).toEqual(opts(hashA));
    expect(hashB['deid']).toBe(b);

    const wait = await t.redis.lrange(`{${prefix}}:intake:wait`, 0, -1);
    expect(wait).toEqual(expect.arrayContaining([viaAdd.id, (viaBulk as { id: string }).id]));
    expect(await t.redis.pttl(`{${prefix}}:intake:de:${b}`)).toBeGreaterThan(3_500_000);
    const events = await t.redis.xrange(`{${prefix}}:intake:events`, '-', '+');
    const kinds = (id: string) => events.filter(([, f]) => f.includes(id)).map(([, f]) => f[1]);
    expect(kinds((viaBulk as { id: string }).id)).toEqual(kinds(viaAdd.id!));
    expect(kinds(viaAdd.id!).length).toBeGreaterThan(0);

    const read = await Job.fromId(t.queue, (viaBulk as { id: string }).id);
    expect(read?.data).toEqual(data(b));
    expect(read?.deduplicationId).toBe(b);
  });

  it('answers the stored copy for a duplicate, whether it was added by queue.add or in the same batch', async () => {
    const [a, b] = [newEventId(), newEventId()];
    const first = await t.queue.add('delivery', data(a), intakeJobOptions(a, 'x1', 3_600_000));
    const results = await bulkAdder(
      t.queue,
      t.redis,
    )([
      { name: 'delivery', data: data(a), opts: intakeJobOptions(a, 'x2', 3_600_000) },
      { name: 'delivery', data: data(b), opts: intakeJobOptions(b, 'x3', 3_600_000) },
      { name: 'delivery', data: data(b), opts: intakeJobOptions(b, 'x4', 3_600_000) },
    ]);
    expect(results).toEqual([{ id: first.id }, { id: intakeJobOptions(b, 'x3', 1).jobId }, { id: intakeJobOptions(b, 'x3', 1).jobId }]);
  });
});
