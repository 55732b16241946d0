import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyHandler } from '@vouchflow/handler-kit';
import { runCli } from '../src/cli/program.js';
import type { QueueStats } from '../src/operations.js';
import { Deployment, delivery, waitForEvents } from './support.js';

const handler = (name: string, extra: Partial<AnyHandler> = {}): AnyHandler => ({
  name,
  events: ['customer.voucher.loyalty_card.points_added'],
  async handle() {},
  ...extra,
});

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  const stdout = new PassThrough();
  let text = '';
  stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
  const code = await runCli(args, {
    io: { stdin: new PassThrough(), stdout, stderr: new PassThrough() },
    env,
    serve: async () => undefined,
  });
  return { code, stdout: text };
}

/*
 * `stats` shows two counts of success that differ on purpose. A handler with a
 * rate limit (the CRM) never runs a first try inline, so each unit is a job and
 * its jobs completed equal its units done; a handler whose first tries run
 * inline (e-mail) leaves no job for them, so only units done counts them.
 */
describe('stats: jobs completed and units done', { timeout: 60_000 }, () => {
  const d = new Deployment();
  const sent = [delivery(), delivery(), delivery()];

  beforeAll(async () => {
    await d.start([handler('email'), handler('crm', { rateLimit: { max: 100, durationMs: 1000 } })], { inlineFirstTry: true });
    const [crmEvents, intakeEvents] = [await d.events('crm'), await d.events('intake')];
    const settled = Promise.all([
      waitForEvents(crmEvents, 'completed', undefined, { count: sent.length }),
      waitForEvents(intakeEvents, 'completed', undefined, { count: sent.length }),
    ]);
    for (const s of sent) await d.send(s);
    await settled;
  });

  afterAll(async () => {
    await d.cleanup();
  });

  it('a rate-limited handler: jobs completed equal units done; an inline one: units done only', async () => {
    const json = await cli(['stats', '--json'], d.env);
    const by = Object.fromEntries((JSON.parse(json.stdout) as { queues: QueueStats[] }).queues.map((r) => [r.queue, r]));
    expect(by['handler-crm']).toMatchObject({ completed: sent.length, done: sent.length });
    expect(by['handler-email']).toMatchObject({ completed: 0, done: sent.length });
    // Intake keeps no completed job (its deliveries are kept as compact records); its units done are the deliveries processed.
    expect(by['intake']).toMatchObject({ completed: 0, done: sent.length });

    const table = await cli(['stats'], d.env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/jobs completed\s+│\s+units done/);
    expect(table.stdout).toMatch(/handler-crm\s+│\s+0\s+│\s+0\s+│\s+0\s+│\s+3\s+│\s+3\s+│/);
    expect(table.stdout).toMatch(/handler-email\s+│\s+0\s+│\s+0\s+│\s+0\s+│\s+0\s+│\s+3\s+│/);
    expect(table.stdout).toContain('first tries run inline included');
  });
});
