import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, signBody } from '@vouchflow/schema';

const ROOT = resolve(import.meta.dirname, '..');
const SECRET = 'sample-test-secret-0123456789';
const run = promisify(execFile);

/** Stands in for the ingress: keeps what it receives, answers 202. */
const received: Array<{ signature: string | undefined; body: string }> = [];
const server = createServer((req: IncomingMessage, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    received.push({ signature: req.headers[SIGNATURE_HEADER] as string | undefined, body });
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}');
  });
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/webhooks/voucherify`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const sample = (args: string[]) =>
  run(process.execPath, ['--conditions=@vouchflow/source', '--import', 'tsx', 'scripts/send-sample.ts', '--url', url, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', VOUCHERIFY_WEBHOOK_SECRET: SECRET },
  });

describe('pnpm sample', () => {
  it('sends --count signed deliveries for the customer and address given, each a new event and transaction', async () => {
    received.length = 0;
    const { stdout } = await sample([
      '--customer',
      'cust_drill_1',
      '--source-id',
      'drill-src',
      '--email',
      'Drill@Example.com',
      '--count',
      '3',
    ]);
    expect(stdout.trim().split('\n')).toEqual(Array(3).fill('202 {"status":"accepted"}'));
    expect(received).toHaveLength(3);
    type Sent = { event: { id: string }; data: { customer: unknown; voucher: { holder_id: string }; transaction: { id: string } } };
    const bodies = received.map((r) => JSON.parse(r.body) as Sent);
    for (const r of received) expect(r.signature).toBe(signBody(r.body, SECRET));
    for (const b of bodies) {
      expect(b.data.customer).toMatchObject({ id: 'cust_drill_1', source_id: 'drill-src', email: 'Drill@Example.com' });
      expect(b.data.voucher.holder_id).toBe('cust_drill_1');
    }
    expect(new Set(bodies.map((b) => b.event.id)).size).toBe(3);
    expect(new Set(bodies.map((b) => b.data.transaction.id)).size).toBe(3);
  });

  it('refuses a --count that is not a whole number, sending nothing', async () => {
    received.length = 0;
    await expect(sample(['--count', 'lots'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--count') });
    expect(received).toHaveLength(0);
  });
});
