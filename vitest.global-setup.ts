import type { TestProject } from 'vitest/node';
import { startRedisServer, type RedisServer } from '@vouchflow/test-support';

let server: RedisServer | undefined;

/**
 * Tests share one Redis: REDIS_URL when it is set, else a private redis-server
 * on a free port started here, so `pnpm test` needs nothing running. Each test
 * still uses its own key prefix.
 */
export async function setup(project: TestProject): Promise<void> {
  // The archive's tests make a database of their own on this server.
  project.provide('postgresUrl', process.env['TEST_POSTGRES_URL']?.trim() || 'postgres://postgres@127.0.0.1:5432/postgres');
  const given = process.env['REDIS_URL']?.trim();
  if (given) {
    project.provide('redisUrl', given);
    return;
  }
  server = await startRedisServer();
  project.provide('redisUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
