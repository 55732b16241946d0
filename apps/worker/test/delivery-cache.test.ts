import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBody } from '../src/deliveries.js';
import { DeliveryCache } from '../src/delivery-cache.js';

/*
 * The decoded-delivery cache is bounded by what it holds, not by how many:
 * ten thousand 1 MiB deliveries must not stay in a worker's memory.
 */

const seed = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../packages/schema/fixtures/points_added.json'), 'utf8')) as {
  event: { id: string };
  data: { customer: { metadata?: Record<string, unknown> } };
};

/** A real delivery of about `kb` KiB (padding in the customer's free-form metadata), decoded by the worker's own code. */
function bigDelivery(i: number, kb: number) {
  const d = structuredClone(seed);
  d.event.id = `evcus_cache_${i}`;
  d.data.customer.metadata = { notes: 'x'.repeat(kb * 1024) };
  const body = JSON.stringify(d);
  return { body, decoded: decodeBody(body).decoded };
}

describe('the delivery cache', () => {
  it('stays within its byte budget, whatever the number of deliveries, keeping the most recent', () => {
    const cache = new DeliveryCache(1024 * 1024);
    for (let i = 0; i < 200; i++) {
      const { body, decoded } = bigDelivery(i, 100);
      cache.set(`job-${i}`, decoded, body.length);
      expect(cache.bytes).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(cache.size).toBeLessThan(11);
    expect(cache.get('job-199')?.event.event.id).toBe('evcus_cache_199');
    expect(cache.get('job-0')).toBeUndefined();
  });

  it('keeps nothing larger than the whole budget, and nothing at all with a budget of 0', () => {
    const small = new DeliveryCache(50 * 1024);
    const { body, decoded } = bigDelivery(1, 100);
    small.set('big', decoded, body.length);
    expect(small.get('big')).toBeUndefined();
    const off = new DeliveryCache(0);
    off.set('any', decoded, 10);
    expect(off.get('any')).toBeUndefined();
  });
});
