import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** A QUEUE_PREFIX no other test uses, so tests sharing one Redis never see each other's keys. */
export const uniquePrefix = (label = 't'): string => `${label}-${randomBytes(5).toString('hex')}`;

/** Deletes every key of a deployment prefix (`{prefix}:…`). */
export async function deletePrefix(url: string, queuePrefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${queuePrefix}}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
