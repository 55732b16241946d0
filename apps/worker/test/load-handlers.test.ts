import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { defineHandler } from '@vouchflow/handler-kit';
import { captureLogger, runHandler } from '@vouchflow/handler-kit/testing';
import { createLogger } from '@vouchflow/core';
import type { Logger } from '@vouchflow/handler-kit';
import { logHandler, type BuiltIns } from '@vouchflow/handlers';
import { loadHandlers } from '../src/load-handlers.js';
import { HandlerRegistryError } from '../src/registry.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

const email = defineHandler({ name: 'email', events: ['customer.voucher.loyalty_card.points_added'], handle: async () => undefined });
const builtIns: BuiltIns = {
  all: { email, log: logHandler },
  defaults: ['email'],
  unavailable: { crm: 'set CRM_TOKEN (a HubSpot private app token) to use it' },
  registry: new Registry(),
  close: async () => undefined,
};

/** A child of a capturing logger: its lines carry the child's fields, as a winston child's do. */
const captureChild = (parent: Logger, fields: Record<string, unknown>): Logger => ({
  debug: (m, f) => parent.debug(m, { ...fields, ...f }),
  info: (m, f) => parent.info(m, { ...fields, ...f }),
  warn: (m, f) => parent.warn(m, { ...fields, ...f }),
  error: (m, f) => parent.error(m, { ...fields, ...f }),
});

let dir: string;
const write = async (name: string, source: string) => {
  await writeFile(join(dir, name), source);
  return `./${name}`;
};
const load = (names: string[] | undefined) => loadHandlers(names, builtIns, dir);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vouchflow-handlers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadHandlers', () => {
  it('runs the default built-ins when HANDLERS is unset, and built-ins by name', async () => {
    expect((await load(undefined)).map((h) => h.name)).toEqual(['email']);
    expect((await load([])).map((h) => h.name)).toEqual(['email']);
    expect((await load(['log', 'email'])).map((h) => h.name)).toEqual(['log', 'email']);
  });

  it('loads the example plugin from a path, as HANDLERS=./examples/points-to-slack/src/index.ts, with its decoded settings', async () => {
    const { logger, lines } = captureLogger({ app: 'worker' });
    const handlers = await loadHandlers(['email', './examples/points-to-slack/src/index.ts'], builtIns, repoRoot, {
      env: { HANDLER_POINTS_TO_SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/hook', HANDLER_POINTS_TO_SLACK_MIN_POINTS: '25' },
      logger: { child: (fields) => captureChild(logger, fields) },
    });
    expect(handlers.map((h) => h.name)).toEqual(['email', 'points-to-slack']);
    expect(handlers[1]?.events).toEqual(['customer.voucher.loyalty_card.points_added', 'voucher.loyalty_card.points_added']);
    // The factory logged through the child it was given, scoped to its handler.
    expect(lines).toContainEqual(
      expect.objectContaining({ message: 'posting points to slack', minPoints: 25, handler: 'points-to-slack' }),
    );
  });

  it("stops on a factory's settings that do not decode, naming the variable", async () => {
    const attempt = (env: Record<string, string>) =>
      loadHandlers(['./examples/points-to-slack/src/index.ts'], builtIns, repoRoot, {
        env,
        logger: { child: () => captureLogger().logger },
      }).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
    const missing = await attempt({});
    expect(missing).toBeInstanceOf(HandlerRegistryError);
    expect(missing?.message).toMatch(
      /^HANDLERS: module ".*index\.ts": settings of "points-to-slack" \(HANDLER_POINTS_TO_SLACK_\*\): HANDLER_POINTS_TO_SLACK_WEBHOOK_URL: expected an http\(s\) URL, got nothing/,
    );
    const bad = await attempt({
      HANDLER_POINTS_TO_SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      HANDLER_POINTS_TO_SLACK_MIN_POINTS: 'lots',
    });
    expect(bad?.message).toMatch(/HANDLER_POINTS_TO_SLACK_MIN_POINTS: expected a whole number of 0 or more, got "lots"/);
  });

  it('hands a factory a logger it cannot close or reconfigure', async () => {
    const seen: Record<string, unknown>[] = [];
    const spec = await write(
      'factory.mjs',
      `export default Object.assign(({ settings, logger }) => {
         globalThis.__vouchflowSeen = { keys: Object.keys(logger).sort(), frozen: Object.isFrozen(logger), close: typeof logger.close, settings };
         return { name: 'probe-factory', events: ['*'], handle: async () => {} };
       }, { handlerName: 'probe-factory', settings: { decode: (input) => ({ _tag: 'Right', right: input }) } });`,
    );
    const handlers = await loadHandlers([spec], builtIns, dir, {
      env: { HANDLER_PROBE_FACTORY_TOKEN: 'abc', OTHER: 'x' },
      logger: createLogger({ level: 'error' }),
    });
    expect(handlers.map((h) => h.name)).toEqual(['probe-factory']);
    seen.push((globalThis as { __vouchflowSeen?: Record<string, unknown> }).__vouchflowSeen!);
    expect(seen[0]).toEqual({ keys: ['debug', 'error', 'info', 'warn'], frozen: true, close: 'undefined', settings: { TOKEN: 'abc' } });
  });

  it('loads plain-JavaScript handlers; a default export may be an array', async () => {
    const spec = await write(
      'plain.mjs',
      `export default [
        { name: 'audit', events: ['*'], async handle(event, ctx) { ctx.logger.info('audit', { id: event.event.id }); } },
        { name: 'picky', events: ['customer.voucher.loyalty_card.points_expired'], concurrency: 2, timeoutMs: 5000,
          rateLimit: { max: 10, durationMs: 1000 },
          async handle(event, ctx) { throw new ctx.errors.PermanentError('no'); } },
      ];`,
    );
    const handlers = await load([spec]);
    expect(handlers.map((h) => h.name)).toEqual(['audit', 'picky']);
    const run = await runHandler(handlers[1]!, 'points_expired');
    expect(run).toMatchObject({ status: 'failed', errorKind: 'permanent' });
    expect((await runHandler(handlers[0]!, 'points_added')).logs).toContainEqual(expect.objectContaining({ message: 'audit' }));
  });

  it('unwraps a CommonJS module compiled from TypeScript (exports.default)', async () => {
    const spec = await write(
      'compiled.cjs',
      `"use strict"; Object.defineProperty(exports, "__esModule", { value: true });
       exports.default = { name: 'compiled', events: ['*'], handle: async () => {} };`,
    );
    expect((await load([spec])).map((h) => h.name)).toEqual(['compiled']);
  });

  const refuses = async (names: string[], message: RegExp) => {
    const error = await load(names).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(HandlerRegistryError);
    expect((error as Error).message).toMatch(message);
  };

  it('stops on a module that fails to load, naming it and the problem', async () => {
    const spec = await write('throws.mjs', `throw new Error('SLACK_WEBHOOK_URL is not set');`);
    await refuses([spec], /HANDLERS: module "\.\/throws\.mjs" \(.*throws\.mjs\) failed to load: SLACK_WEBHOOK_URL is not set/);
    await refuses(['./missing.mjs'], /module "\.\/missing\.mjs" \(.*missing\.mjs\) failed to load: Cannot find module/);
    const broken = await write('broken.mjs', `export default {`);
    await refuses([broken], /module "\.\/broken\.mjs" .*failed to load/);
  });

  it('stops on a misspelt built-in or a package that is not installed', async () => {
    await refuses(['emial'], /"emial" is neither a built-in handler \(crm, email, log\) nor an installed package/);
    await refuses(['@acme/vouchflow-nothing'], /module "@acme\/vouchflow-nothing" failed to load/);
  });

  it('tells a file given without ./ from a package', async () => {
    await write('bare.mjs', `export default { name: 'bare', events: ['*'], handle: async () => {} };`);
    await refuses(['bare.mjs'], /"bare\.mjs" is a file, but without \.\/ it is read as a package name: write \.\/bare\.mjs/);
  });

  it('says what a built-in that lacks settings needs', async () => {
    await refuses(['crm'], /built-in "crm" is not configured: set CRM_TOKEN/);
  });

  it('stops on a module whose export is not a handler', async () => {
    await refuses([await write('none.mjs', `export const handler = {};`)], /module "\.\/none\.mjs" has no default export/);
    await refuses(
      [await write('fn.mjs', `export default function notAHandler() {}`)],
      /^HANDLERS: module "\.\/fn\.mjs": default export is a function \(notAHandler\), not a handler or a handler factory; .*defineHandlerFactory/,
    );
    await refuses(
      [
        await write(
          'wrapped.mjs',
          `const slack = { name: 'x', events: ['*'], handle: async () => {} }; export default { slack, other: 1 };`,
        ),
      ],
      /^HANDLERS: module "\.\/wrapped\.mjs": default export is not a handler \(keys: slack, other\); export the handler itself/,
    );
    await refuses([await write('empty.mjs', `export default [];`)], /module "\.\/empty\.mjs" exports an empty list/);
    await refuses(
      [await write('nohandle.mjs', `export default { name: 'x', events: ['*'] };`)],
      /module "\.\/nohandle\.mjs": handler "x": handle must be a function/,
    );
    await refuses(
      [await write('badname.mjs', `export default { name: 'Bad Name', events: ['*'], handle: async () => {} };`)],
      /module "\.\/badname\.mjs": name must match/,
    );
    await refuses(
      [await write('noevents.mjs', `export default { name: 'x', events: [], handle: async () => {} };`)],
      /handler "x": events must be a non-empty list/,
    );
    await refuses(
      [
        await write(
          'typo.mjs',
          `export default { name: 'x', events: ['customer.voucher.loyalty_card.point_added'], handle: async () => {} };`,
        ),
      ],
      /^HANDLERS: module "\.\/typo\.mjs": handler "x": unknown event "customer\.voucher\.loyalty_card\.point_added" .*did you mean "customer\.voucher\.loyalty_card\.points_added"\?/,
    );
    await refuses(
      [await write('conc.mjs', `export default { name: 'x', events: ['*'], concurrency: 0, handle: async () => {} };`)],
      /handler "x": concurrency must be a positive integer \(got number 0\)/,
    );
    await refuses(
      [await write('rate.mjs', `export default { name: 'x', events: ['*'], rateLimit: { max: 5 }, handle: async () => {} };`)],
      /handler "x": rateLimit must be \{ max, durationMs \}/,
    );
  });

  it('stops on a name used twice, naming both origins', async () => {
    const spec = await write('dupe.mjs', `export default { name: 'email', events: ['*'], handle: async () => {} };`);
    await refuses(['email', spec], /module "\.\/dupe\.mjs": handler name "email" is already used by built-in "email"/);
    await refuses(['log', 'log'], /built-in "log": handler name "log" is already used by built-in "log"/);
  });
});
