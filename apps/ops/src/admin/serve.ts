import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, createShutdown, exitOnSignals, SECOND } from '@vouchflow/core';
import { createAlerter } from '../alerts.js';
import { loadAdminConfig } from '../config.js';
import { formatDuration } from '../duration.js';
import { openOperations } from '../open-operations.js';
import { createAdminApp } from './app.js';
import { createDashboard } from './dashboard.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * The admin process (`pnpm start:admin`, i.e. `pnpm ops serve`): the admin
 * API, the dashboard and, with ALERT_WEBHOOK_URL, dead-letter alerts. Runs
 * until SIGTERM/SIGINT, then shuts down in order and exits.
 */
export async function serveAdmin(env: Record<string, string | undefined>): Promise<void> {
  const config = loadAdminConfig(env);
  const logger = createLogger({ level: config.LOG_LEVEL, json: config.NODE_ENV === 'production', defaultMeta: { app: 'admin' } });
  const opened = await openOperations(config, { connectionName: 'vouchflow-admin', logger });
  const dashboard = createDashboard(opened.ops, '/dashboard', logger);
  const app = createAdminApp({
    ops: opened.ops,
    token: config.ADMIN_TOKEN,
    logger,
    dashboard: dashboard.router,
    trustProxy: config.TRUST_PROXY,
    allowedHosts: config.ADMIN_ALLOWED_HOSTS,
    ready: async () => {
      if (opened.redis.status !== 'ready') throw new Error(`redis: connection is ${opened.redis.status}`);
      await opened.redis.ping();
    },
  });

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.ADMIN_PORT, config.ADMIN_HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://${config.ADMIN_HOST.includes(':') ? `[${config.ADMIN_HOST}]` : config.ADMIN_HOST}:${port}`;
  logger.info('admin listening', { host: config.ADMIN_HOST, port, dashboard: `${base}/dashboard`, queuePrefix: config.QUEUE_PREFIX });
  if (!LOOPBACK.has(config.ADMIN_HOST)) {
    logger.warn(
      'the admin API listens beyond loopback: serve it only behind HTTPS (a TLS-terminating proxy), or the token and session travel in clear',
    );
  }

  const alerter = config.ALERT_WEBHOOK_URL
    ? createAlerter({
        connection: opened.redis,
        queuePrefix: config.QUEUE_PREFIX,
        deadLetters: opened.deadLetters,
        webhookUrl: config.ALERT_WEBHOOK_URL,
        intervalMs: config.ALERT_INTERVAL,
        logger,
      })
    : undefined;
  alerter?.start();
  if (alerter) logger.info('dead-letter alerts on', { interval: formatDuration(config.ALERT_INTERVAL) });

  const shutdown = createShutdown(logger, [
    { name: 'stop alerts', run: () => alerter?.stop() },
    {
      name: 'stop accepting requests',
      run: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // The dashboard polls over keep-alive connections; idle ones would hold close() open.
          server.closeIdleConnections();
        }),
    },
    { name: 'close queues and redis', run: () => opened.close() },
  ]);
  exitOnSignals(shutdown, logger, { deadlineMs: 10 * SECOND });
  // Runs until a signal: exitOnSignals ends the process once the shutdown completes.
  await new Promise<never>(() => {});
}
