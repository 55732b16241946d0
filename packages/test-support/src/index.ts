export { freePort } from './ports.js';
export { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server.js';
export { uniquePrefix, deletePrefix } from './keys.js';
export { startApp, type AppProcess, type LogLine, type StartAppOptions } from './app-process.js';
export { testRedisUrl } from './test-redis.js';
export { startRedisCluster, type RedisCluster } from './redis-cluster.js';
export { createTestDatabase, startTcpProxy, type TestDatabase, type TcpProxy } from './postgres.js';
export { waitForEvent, openQueueEvents, type QueueEventName } from './queue-events.js';
export { runProcess, runOps, scrapeMetric, type ProcessRun } from './processes.js';
