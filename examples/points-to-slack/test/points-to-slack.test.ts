import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFixture, runHandler } from '@vouchflow/handler-kit/testing';
import { createPointsToSlack } from '../src/handler.js';

// A local server plays Slack: it records what it gets and answers with `reply`.
let server: Server;
let webhookUrl: string;
const posted: string[] = [];
let reply: { status: number; headers?: Record<string, string>; body?: string } = { status: 200, body: 'ok' };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posted.push(body);
      res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/XXX`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('points-to-slack', () => {
  it('posts ids and numbers for points added', async () => {
    reply = { status: 200, body: 'ok' };
    const run = await runHandler(createPointsToSlack({ webhookUrl }), 'points_added');
    expect(run.status).toBe('done');
    expect(JSON.parse(posted.at(-1)!)).toEqual({ text: 'cust_2p0TvCOvB25HWUrW9JFf4czJ earned 40 points on card NK5iReoi (balance 2641).' });
    expect(run.logs).toContainEqual(expect.objectContaining({ message: 'posted to slack', points: 40 }));
  });

  it('skips small additions', async () => {
    const run = await runHandler(createPointsToSlack({ webhookUrl, minPoints: 100 }), 'points_added');
    expect(run).toMatchObject({ status: 'skipped', skipped: '40 points is below 100' });
  });

  it('waits as long as Slack asks on 429, retries a 500, gives up on a 404', async () => {
    const handler = createPointsToSlack({ webhookUrl });
    reply = { status: 429, headers: { 'retry-after': '12' } };
    expect(await runHandler(handler, 'points_added')).toMatchObject({ status: 'failed', errorKind: 'retry-later', retryAfterMs: 12_000 });
    reply = { status: 500 };
    expect(await runHandler(handler, 'points_added')).toMatchObject({ status: 'failed', errorKind: 'retryable' });
    reply = { status: 404, body: 'no_service' };
    const gone = await runHandler(handler, 'points_added');
    expect(gone).toMatchObject({
      status: 'failed',
      errorKind: 'permanent',
      error: { message: 'Slack refused the message (404): no_service' },
    });
  });

  it('runs for the project-level twin too', async () => {
    reply = { status: 200 };
    const delivery = loadFixture<{ event: { type: string } }>('points_added');
    delivery.event.type = 'voucher.loyalty_card.points_added';
    expect((await runHandler(createPointsToSlack({ webhookUrl }), delivery)).status).toBe('done');
  });
});
