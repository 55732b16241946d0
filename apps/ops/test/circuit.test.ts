import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '@vouchflow/core';
import { circuitStore } from '@vouchflow/pipeline';
import { createAdminApp } from '../src/admin/app.js';
import { createDashboard } from '../src/admin/dashboard.js';
import { loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import type { HandlerStatus, QueueStats } from '../src/operations.js';
import { Deployment, jsonOf, quietLogger, runOps, switchableHandler } from './support.js';

const TOKEN = 'admin-token-for-tests-0123456789';

/*
 * An open circuit breaker, as an operator sees it: `pnpm ops stats`,
 * `pnpm ops handlers` (table and --json), the admin API and the dashboard.
 * The breaker is opened the way a worker opens it (the pipeline's store).
 */
describe('a handler’s circuit breaker in the operator’s tools', { timeout: 90_000 }, () => {
  const d = new Deployment();
  const ops = (...args: string[]) => runOps(args, d.env);
  let until = 0;

  beforeAll(async () => {
    await d.start([switchableHandler('email'), switchableHandler('crm')]);
    const now = Date.now();
    until = now + 10 * MINUTE;
    await circuitStore(d.redis, d.prefix).failure('crm', { now, failures: 1, windowMs: MINUTE, cooldownMs: 10 * MINUTE });
  }, 60_000);
  afterAll(async () => {
    await d.cleanup();
  });

  it('stats and handlers show it open, with when the probe runs', async () => {
    const [statsTable, statsJson, handlersTable, handlersJson] = await Promise.all([
      ops('stats'),
      ops('stats', '--json'),
      ops('handlers'),
      ops('handlers', '--json'),
    ]);
    expect(statsTable.stdout).toContain('handler-crm (circuit open)');
    expect(statsTable.stdout).not.toContain('handler-email (');
    const rows = Object.fromEntries(jsonOf<{ queues: QueueStats[] }>(statsJson).queues.map((r) => [r.queue, r.circuit]));
    expect(rows).toEqual({ intake: null, 'handler-crm': 'open', 'handler-email': 'closed' });

    const time = new Date(until).toISOString().slice(11, 19);
    expect(handlersTable.stdout).toMatch(/│ circuit\s+│ last error/);
    expect(handlersTable.stdout).toMatch(new RegExp(`crm\\s+│\\s+running(\\s+│\\s+\\d+){5}\\s+│\\s+open until ${time}Z`));
    expect(handlersTable.stdout).toMatch(/email\s+│\s+running(\s+│\s+\d+){5}\s+│\s+closed/);
    const handlers = jsonOf<HandlerStatus[]>(handlersJson);
    expect(handlers.find((h) => h.handler === 'crm')!.circuit).toEqual({ state: 'open', until, openedAt: until - 10 * MINUTE });
    expect(handlers.find((h) => h.handler === 'email')!.circuit).toEqual({ state: 'closed', until: null, openedAt: null });
  });

  describe('through the admin API and the dashboard', () => {
    let opened: OpenedOperations;
    let server: Server;
    let base = '';
    const api = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });

    beforeAll(async () => {
      opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-circuit-test' });
      const dashboard = createDashboard(opened.ops).router;
      server = createServer(createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger(), dashboard }));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await opened.close();
    });

    it('GET /api/handlers and /api/stats carry the breaker; the dashboard’s queue card says it is open', async () => {
      const handlers = (await (await api('/api/handlers')).json()) as HandlerStatus[];
      expect(handlers.map((h) => [h.handler, h.circuit.state])).toEqual([
        ['crm', 'open'],
        ['email', 'closed'],
      ]);
      const stats = (await (await api('/api/stats')).json()) as QueueStats[];
      expect(stats.find((s) => s.queue === 'handler-crm')!.circuit).toBe('open');

      const board = (await (await api('/dashboard/api/queues')).json()) as { queues: Array<{ name: string; description?: string }> };
      const card = (name: string) => board.queues.find((q) => q.name === name)?.description ?? '';
      expect(card('handler-crm')).toMatch(/^Circuit open until \d\d:\d\d:\d\dZ: its units wait/);
      expect(card('handler-email')).not.toContain('Circuit');
    });
  });
});
