import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import { createAdminApp } from '../src/admin/app.js';
import { runCli } from '../src/cli/program.js';
import { loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import { Deployment, delivery, quietLogger, switchableHandler, waitForEvents } from './support.js';

/*
 * A purge deletes exactly what it counted: dead letters that arrive after
 * the count (or after the operator was asked) are kept, in the CLI and the API.
 */

const TOKEN = 'admin-token-for-purge-tests-0123456789';

describe('purging exactly what was counted', () => {
  const d = new Deployment();
  const crm = switchableHandler('crm');
  let crmEvents: QueueEvents;
  let opened: OpenedOperations;
  let server: Server;
  let base: string;

  const deadLetter = async () => {
    const failed = waitForEvents(crmEvents, 'failed');
    const sent = delivery();
    await d.send(sent);
    await failed;
    return sent.eventId;
  };
  const remaining = async () => (await opened.ops.listDeadLetters({ handler: 'crm' })).map((e) => e.eventId).sort();
  const api = (path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    crm.down = true;
    await d.start([crm]);
    crmEvents = await d.events('crm');
    opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-purge-test' });
    server = createServer(createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger() }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      server?.closeAllConnections();
    });
    await opened?.close();
    await d.cleanup();
  });

  it('the CLI: a dead letter arriving while the operator is asked is not purged', async () => {
    const before = [await deadLetter(), await deadLetter()];
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let asked = '';
    let late = '';
    const answered = new Promise<void>((resolve) => {
      stderr.on('data', (chunk: Buffer) => {
        asked += chunk.toString();
        if (!asked.includes('[y/N]') || late !== '') return;
        late = 'pending';
        // The question is on screen: a new dead letter arrives, then the operator says yes.
        void deadLetter().then((id) => {
          late = id;
          stdin.write('y\n');
          resolve();
        });
      });
    });
    const code = await runCli(['dlq', 'purge', '--handler', 'crm'], {
      io: { stdin, stdout, stderr },
      env: d.env,
      serve: async () => undefined,
    });
    await answered;
    expect(code).toBe(0);
    expect(asked).toContain('Delete 2 dead letters (handler crm) for good?');
    expect(before).toHaveLength(2);
    expect(await remaining()).toEqual([late]);
  });

  it('the API: a purge with the bound its count returned keeps what arrived after the count', async () => {
    const counted = (await (await api('/api/dead-letters/count?handler=crm')).json()) as { count: number; until: number };
    expect(counted.count).toBe(1);
    const late = await deadLetter();
    const purged = await api('/api/dead-letters/purge', { handler: 'crm', yes: true, until: counted.until });
    expect(await purged.json()).toEqual({ purged: 1, until: counted.until });
    expect(await remaining()).toEqual([late]);
  });

  it('the API: a purge by ids deletes exactly those', async () => {
    const other = await deadLetter();
    const entries = await opened.ops.listDeadLetters({ handler: 'crm' });
    const keep = entries.find((e) => e.eventId === other)!;
    const drop = entries.filter((e) => e.eventId !== other).map((e) => e.id);
    const purged = await api('/api/dead-letters/purge', { ids: drop });
    expect(await purged.json()).toEqual({ purged: drop.length });
    expect(await remaining()).toEqual([keep.eventId]);
  });
});
