import { createServer, type Server } from 'node:http';
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
 */
export async function startMetricsServer(source: MetricsSource, port: number, host = '127.0.0.1'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
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
