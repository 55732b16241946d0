import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoutes, buildHistoryRoutes } from '@bull-board/api/dist/routes.js';
import type { MetricsHistoryProvider } from '@bull-board/api/dist/types.js';
import { createAdminApp } from '../src/admin/app.js';
import { createDashboard, DASHBOARD_MUTATIONS } from '../src/admin/dashboard.js';
import { loadCliConfig } from '../src/config.js';
import { openOperations, type OpenedOperations } from '../src/open-operations.js';
import { Deployment, quietLogger, raw } from './support.js';

/*
 * The dashboard's allow-list against the route table of the installed
 * @bull-board/api: a bull-board upgrade that adds a mutating route fails
 * here until the route is allowed or refused on purpose.
 */

type RouteDef = (typeof appRoutes.api)[number];
const flatten = (defs: readonly RouteDef[]) =>
  defs.flatMap((r) =>
    (Array.isArray(r.method) ? r.method : [r.method]).flatMap((method) =>
      (Array.isArray(r.route) ? r.route : [r.route]).map((route) => ({ method: String(method).toLowerCase(), route: String(route) })),
    ),
  );

/** The routes every board mounts. */
const mounted = () => flatten(appRoutes.api).filter((r) => r.method !== 'get');
/** Those that exist only with a history provider (vouchflow configures none): listed anyway, so adding one is covered. */
const historyOnly = () =>
  flatten(buildHistoryRoutes({} as MetricsHistoryProvider, { hasUsage: true, canPurge: true, hasLatency: true })).filter(
    (r) => r.method !== 'get',
  );

describe("bull-board's route table", () => {
  it('has every mutating route either allowed or refused, and nothing listed that no longer exists', () => {
    const table = [...mounted(), ...historyOnly()].map((r) => `${r.method} ${r.route}`);
    expect(table.length).toBeGreaterThan(20);
    const unlisted = table.filter((key) => !(key in DASHBOARD_MUTATIONS));
    expect(unlisted, 'mutating bull-board routes that are neither allowed nor refused').toEqual([]);
    const stale = Object.keys(DASHBOARD_MUTATIONS).filter((key) => !table.includes(key));
    expect(stale, 'allow-list entries for routes bull-board no longer has').toEqual([]);
  });
});

describe('each mutating route through the real dashboard', () => {
  const TOKEN = 'admin-token-for-route-walk-0123456789';
  const d = new Deployment();
  let opened: OpenedOperations;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    opened = await openOperations(loadCliConfig(d.env), { connectionName: 'ops-route-walk' });
    const app = createAdminApp({ ops: opened.ops, token: TOKEN, logger: quietLogger(), dashboard: createDashboard(opened.ops).router });
    server = createServer(app);
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

  it('answers 403 naming a command for every refused route, and lets the allowed ones through', async () => {
    const params: Record<string, string> = { queueName: 'intake', jobId: 'no-such-job', queueStatus: 'failed', schedulerId: 'none' };
    const walked: string[] = [];
    for (const { method, route } of mounted()) {
      const rule = DASHBOARD_MUTATIONS[`${method} ${route}`];
      if (rule === undefined) continue;
      const path = `/dashboard${route.replace(/:(\w+)/g, (_m, name: string) => params[name] ?? 'x')}`;
      const answer = await raw(
        base,
        method.toUpperCase(),
        path,
        { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        '{}',
      );
      walked.push(`${method} ${route}`);
      if (rule.allow === false) {
        expect([route, answer.status]).toEqual([route, 403]);
        expect(answer.text).toMatch(/refused in the vouchflow dashboard: use `pnpm (ops|sample)/);
      } else {
        expect([route, answer.status]).not.toEqual([route, 403]);
        expect(answer.status).toBeLessThan(500);
      }
    }
    const history = new Set(historyOnly().map((r) => `${r.method} ${r.route}`));
    expect(walked.sort()).toEqual(
      Object.keys(DASHBOARD_MUTATIONS)
        .filter((key) => !history.has(key))
        .sort(),
    );
    // What the walk paused, it resumes: the queue is left as it was found.
    await raw(base, 'PUT', '/dashboard/api/queues/resume', { authorization: `Bearer ${TOKEN}` });
  });
});
