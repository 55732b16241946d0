import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '@vouchflow/test-support';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestHttp {
  url: string;
  requests: SeenRequest[];
  /** What the next requests get; change it between steps. */
  respond: (request: SeenRequest, res: ServerResponse) => void;
  close(): Promise<void>;
}

/** A real HTTP server on loopback that records each request and answers with `respond`. */
export async function startHttp(respond: TestHttp['respond']): Promise<TestHttp> {
  const state: TestHttp = { url: '', requests: [], respond, close: async () => undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      state.requests.push(seen);
      state.respond(seen, res);
    });
  });
  const listening = await listenOnLoopback(server);
  state.url = listening.url;
  state.close = listening.close;
  return state;
}

export const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
