import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { bytesPerEvent, memorySamples, readRedisMemory, recordMemorySample, MEMORY_WINDOW_MS } from '../src/index.js';

describe('bytes per event', () => {
  it('is the used memory gained per delivery processed between the oldest and newest sample', () => {
    expect(bytesPerEvent([])).toBeUndefined();
    expect(bytesPerEvent([{ at: 0, usedMemory: 1000, processed: 10 }])).toBeUndefined();
    expect(
      bytesPerEvent([
        { at: 0, usedMemory: 1_000_000, processed: 10 },
        { at: 1, usedMemory: 1_200_000, processed: 110 },
        { at: 2, usedMemory: 1_600_000, processed: 410 },
      ]),
    ).toBe(1500);
    // Nothing processed in the window: no figure, rather than a division by zero.
    expect(
      bytesPerEvent([
        { at: 0, usedMemory: 1, processed: 5 },
        { at: 1, usedMemory: 2, processed: 5 },
      ]),
    ).toBeUndefined();
  });

  it('shares one count between processes and keeps an hour of samples', async () => {
    const prefix = uniquePrefix('memory');
    const redis = new Redis(testRedisUrl());
    try {
      const now = Date.now();
      await recordMemorySample(redis, prefix, 0, now - MEMORY_WINDOW_MS - 60_000);
      await recordMemorySample(redis, prefix, 3, now - 60_000);
      // Another worker process adds its own count to the same total.
      await recordMemorySample(redis, prefix, 4, now);
      const samples = await memorySamples(redis, prefix, now);
      expect(samples.map((s) => s.processed)).toEqual([3, 7]);
      expect((await readRedisMemory(redis)).usedMemory).toBeGreaterThan(0);
    } finally {
      await deletePrefix(testRedisUrl(), prefix);
      redis.disconnect();
    }
  });
});
