/*
 * The baseline of `pnpm bench ingress`: a bare Express 5 app that only
 * parses the JSON body and answers 202. Run as its own process by
 * bench/ingress.ts; prints "listening <port>" when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/webhooks/voucherify', express.json({ limit: '1mb' }), (_req, res) => {
  res.status(202).json({ status: 'accepted' });
});
const server = createServer(app);
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
