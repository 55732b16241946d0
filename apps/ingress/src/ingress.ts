import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SECOND,
  redisReadiness,
  startMetricsServer,
  type Logger,
  type MetricsServer,
  type RedisClient,
  type ShutdownStep,
} from '@vouchflow/core';
import { openIntakeQueue } from '@vouchflow/pipeline';
import { createApp } from './app.js';
import { createDuplicateInspector } from './conflicting-duplicates.js';
import { startBacklogMonitor, type BacklogMonitor } from './backlog.js';
import type { IngressSettings } from './config.js';
import { createBatchingIntake, type Intake } from './intake.js';
import { createIngressMetrics, type IngressMetrics } from './metrics.js';
import { tracedRequests } from './tracing.js';

export interface IngressOptions {
  settings: IngressSettings;
  /** A `request-path` client (no offline queue, bounded commands). The caller owns and closes it, after `stop()`. */
  redis: RedisClient;
  logger: Logger;
  /** @defaultValue 0: any free port */
  port?: number;
  /** @defaultValue all interfaces */
  host?: string;
  /** @defaultValue a fresh registry without process metrics */
  metrics?: IngressMetrics;
  /** Port of `GET /metrics`, apart from the webhook port (0: any free port). @defaultValue no metrics server */
  metricsPort?: number;
  /** @defaultValue 127.0.0.1 (METRICS_HOST) */
  metricsHost?: string;
  /** Record a span per request (telemetry export is on). @defaultValue false */
  traced?: boolean;
}

export interface RunningIngress {
  readonly server: Server;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly metrics: IngressMetrics;
  /** Where `GET /metrics` is served (`http://127.0.0.1:<port>`), when a metrics port was asked for. */
  readonly metricsUrl: string | undefined;
  readonly intake: Intake;
  readonly backlog: BacklogMonitor;
  /**
   * The ordered shutdown, as steps for `createShutdown`: stop accepting and let
   * in-flight requests finish, store pending deliveries, stop the backlog
   * reader, close the queue. Redis is the caller's to close afterwards.
   */
  readonly shutdownSteps: ShutdownStep[];
  /** Runs `shutdownSteps` in order (tests; `main.ts` goes through `createShutdown`). */
  stop(): Promise<void>;
}

/** Opens the intake queue, builds the app and listens. */
export async function startIngress({
  settings,
  redis,
  logger,
  port = 0,
  host,
  metrics = createIngressMetrics(),
  metricsPort,
  metricsHost = '127.0.0.1',
  traced = false,
}: IngressOptions): Promise<RunningIngress> {
  // No version check: it would be one more Redis call in BullMQ's start-up that, if it failed while
  // Redis restarts, would leave the queue unusable for good. Waiting for "ready" is kept.
  const queue = openIntakeQueue({ connection: redis, queuePrefix: settings.queuePrefix }, { skipVersionCheck: true });
  queue.on('error', (err) => logger.debug('intake queue error', { error: err.message }));

  const intake = createBatchingIntake({
    queue,
    redis,
    queuePrefix: settings.queuePrefix,
    dedupWindowMs: settings.dedupWindowMs,
    timeoutMs: settings.enqueueTimeoutMs,
    maxBatch: settings.enqueueBatchMax,
    onBatch: (size) => metrics.batch(size),
    logger,
  });
  const backlog = startBacklogMonitor({
    queue,
    maxBacklog: settings.maxBacklog,
    intervalMs: settings.backlogCheckMs,
    logger,
    onReading: (waiting) => metrics.backlog(waiting),
  });

  let draining = false;
  const redisHealth = redisReadiness(redis, settings.queuePrefix, logger);
  const app = createApp({
    secrets: settings.secrets,
    allowUnsigned: settings.allowUnsigned,
    intake,
    logger,
    backlog,
    metrics,
    bodyLimitBytes: settings.bodyLimitBytes,
    draining: () => draining,
    duplicates: createDuplicateInspector({ queue, redis, queuePrefix: settings.queuePrefix }),
    pingRedis: async () => {
      if (redis.status !== 'ready' && redis.status !== 'connect') throw new Error(`connection is ${redis.status}`);
      return redisHealth.check();
    },
  });

  const server = createServer(traced ? tracedRequests(app) : app);
  // Longer than the keep-alive of common proxies, so a proxy never reuses a connection we just closed.
  server.keepAliveTimeout = 65 * SECOND;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  let metricsServer: MetricsServer | undefined;
  if (metricsPort !== undefined) {
    try {
      metricsServer = await startMetricsServer(metrics.registry, metricsPort, metricsHost);
    } catch (err) {
      // Deliveries matter more than metrics: a taken port costs the metrics, not the intake.
      logger.warn('metrics server did not start: running without /metrics', {
        host: metricsHost,
        port: metricsPort,
        error: (err as Error).message,
      });
    }
  }

  const shutdownSteps: ShutdownStep[] = [
    {
      name: 'stop accepting requests and finish those in flight',
      run: () =>
        new Promise<void>((resolve) => {
          draining = true;
          // close() stops listening and drops idle keep-alive connections; busy ones answer with
          // "Connection: close" (see draining) and end, and the callback fires when the last one has.
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    },
    { name: 'store pending deliveries', run: () => intake.close() },
    { name: 'stop reading the backlog', run: () => backlog.stop() },
    { name: 'close the intake queue', run: () => queue.close() },
    { name: 'close the metrics server', run: () => metricsServer?.close() },
  ];

  return {
    server,
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}`,
    metricsUrl: metricsServer?.url,
    metrics,
    intake,
    backlog,
    shutdownSteps,
    async stop() {
      for (const step of shutdownSteps) await step.run();
    },
  };
}
