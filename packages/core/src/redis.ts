import { Redis, Cluster, type RedisOptions } from 'ioredis';
import { SECOND } from './durations.js';

export type RedisClient = Redis | Cluster;

/**
 * How a process talks to Redis.
 * - `request-path`: the ingress. Commands fail at once while disconnected and
 *   time out after `commandTimeoutMs`, so a request can be answered 503
 *   instead of hanging or being queued in memory.
 * - `worker`: BullMQ workers block on Redis and must retry forever
 *   (BullMQ requires `maxRetriesPerRequest: null`).
 */
export type RedisRole = 'request-path' | 'worker';

export interface RedisSettings {
  /** One URL, or for a cluster any number of seed node URLs. */
  urls: readonly string[];
  /** Treat `urls` as Redis Cluster seed nodes. @defaultValue false */
  cluster?: boolean;
  role: RedisRole;
  /** Only for `request-path`. @defaultValue 1 second */
  commandTimeoutMs?: number;
  /** Shown in CLIENT LIST, handy when debugging. */
  connectionName?: string;
}

function nodeOptions(settings: RedisSettings): RedisOptions {
  const common: RedisOptions = {
    connectionName: settings.connectionName,
    // Reconnect quickly at first, then at most every 2 s.
    retryStrategy: (times) => Math.min(times * 100, 2 * SECOND),
  };
  if (settings.role === 'worker') return { ...common, maxRetriesPerRequest: null, enableReadyCheck: true };
  return {
    ...common,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: settings.commandTimeoutMs ?? SECOND,
    connectTimeout: 2 * SECOND,
  };
}

function fromUrl(raw: string): RedisOptions {
  const url = new URL(raw);
  const db = url.pathname.replace(/^\//, '');
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: db ? Number(db) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

/** Creates a client. Its caller owns it and must `quit()` it at shutdown. */
export function createRedis(settings: RedisSettings): RedisClient {
  const options = nodeOptions(settings);
  if (settings.cluster) {
    const nodes = settings.urls.map((u) => {
      const { host, port } = fromUrl(u);
      return { host, port };
    });
    const { username, password, tls } = fromUrl(settings.urls[0] ?? 'redis://127.0.0.1:6379');
    return new Cluster(nodes, {
      redisOptions: { ...options, username, password, tls },
      enableOfflineQueue: options.enableOfflineQueue,
      clusterRetryStrategy: (times) => Math.min(times * 100, 2 * SECOND),
    });
  }
  const [first] = settings.urls;
  if (first === undefined) throw new Error('no Redis URL given');
  return new Redis({ ...fromUrl(first), ...options });
}

/** Resolves when the client is ready, or rejects after `timeoutMs`. */
export async function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/** Closes a client politely, falling back to a hard disconnect when Redis does not answer. */
export async function closeRedis(client: RedisClient, timeoutMs = 2 * SECOND): Promise<void> {
  if (client.status === 'end') return;
  const timer = setTimeout(() => client.disconnect(), timeoutMs);
  try {
    await client.quit();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
