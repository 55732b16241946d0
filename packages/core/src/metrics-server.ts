import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a Prometheus registry offers (prom-client's `Registry`), so this module needs no metrics library. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsServer {
  port: number;
  /** `http://<host>:<port>` */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` on a port of its own, loopback by default
 * (`METRICS_HOST`): metrics describe the deployment's traffic and are for the
 * scraper on the host or its network, never for the public webhook port.
 * With `ready`, it also answers `/healthz` (the process answers) and `/readyz`
 * (`ready` resolves), so an orchestrator's probes of a process without a
 * public port need no other one. `ready` resolving with warnings answers 200
 * `{ status: 'degraded', warnings }`: still serving, but look.
 */
export async function startMetricsServer(
  source: MetricsSource,
  port: number,
  host = '127.0.0.1',
  ready?: () => Promise<void | { warnings: readonly string[] }>,
): Promise<MetricsServer> {
  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (ready && req.method === 'GET' && path === '/healthz') return json(res, 200, { status: 'ok' });
    if (ready && req.method === 'GET' && path === '/readyz') {
      ready().then(
        (said) =>
          said && said.warnings.length > 0
            ? json(res, 200, { status: 'degraded', warnings: said.warnings })
            : json(res, 200, { status: 'ready' }),
        (err: unknown) => json(res, 503, { status: 'unavailable', problems: [err instanceof Error ? err.message : String(err)] }),
      );
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
