import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { deletePrefix, freePort, startApp, testRedisUrl, uniquePrefix, type AppProcess } from '@vouchflow/test-support';

const ROOT = resolve(import.meta.dirname, '../..');
const fixture = JSON.parse(readFileSync(resolve(ROOT, 'packages/schema/fixtures/points_added.json'), 'utf8')) as {
  event: { id: string };
};

/*
 * A plugin as a third party writes it: its own directory outside the
 * workspace, its own package.json, the kit installed from the packed
 * tarballs (so its own copy of the kit and its error classes), plain
 * JavaScript. The compiled worker loads it through HANDLERS.
 */
const PLUGIN = `
import { defineHandler, defineHandlerFactory, RetryLaterError } from '@vouchflow/handler-kit';

const settings = {
  // Any codec with io-ts's decode shape will do; this plugin needs no io-ts.
  decode(input) {
    return typeof input.GREETING === 'string' && /^\\d+$/.test(input.RETRY_MS ?? '')
      ? { _tag: 'Right', right: { greeting: input.GREETING, retryMs: Number(input.RETRY_MS) } }
      : { _tag: 'Left', left: 'HANDLER_OUTSIDE_GREETING and HANDLER_OUTSIDE_RETRY_MS (a whole number) are required' };
  },
};

export default defineHandlerFactory({
  name: 'outside',
  settings,
  create({ settings, logger }) {
    logger.info('outside plugin ready', {
      greeting: settings.greeting,
      loggerKeys: Object.keys(logger).sort(),
      canClose: typeof logger.close,
      kit: import.meta.resolve('@vouchflow/handler-kit'),
    });
    let tries = 0;
    return defineHandler({
      name: 'outside',
      events: ['customer.voucher.loyalty_card.points_added'],
      async handle(event, ctx) {
        tries += 1;
        if (tries === 1) throw new RetryLaterError('downstream asked to wait', { delayMs: settings.retryMs });
        ctx.logger.info('outside plugin handled', { attempt: ctx.attempt, tries, points: event.data.balance.points });
      },
    });
  },
});
`;

/** The plugin's own check, with the kit's test kit from its own copy. */
const CHECK = `
import { runHandler } from '@vouchflow/handler-kit/testing';
import { buildHandler } from '@vouchflow/handler-kit';
import factory from './index.js';
const { captureLogger } = await import('@vouchflow/handler-kit/testing');
const handler = await buildHandler(factory, { HANDLER_OUTSIDE_GREETING: 'hi', HANDLER_OUTSIDE_RETRY_MS: '5' }, captureLogger().logger);
const first = await runHandler(handler, 'points_added');
const second = await runHandler(handler, 'points_added');
console.log(JSON.stringify({ first: [first.status, first.errorKind, first.retryAfterMs], second: second.status }));
`;

describe('a plugin outside the workspace, with the packed kit', () => {
  const secret = 'plugin-secret-0123456789';
  const queuePrefix = uniquePrefix('plugin');
  let dir: string;
  let ingress: AppProcess | undefined;
  let worker: AppProcess | undefined;
  let base: string;

  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'vouchflow-plugin-')));
    // `pnpm pack` runs `prepack` (tsc -b) and writes workspace:* as the real version.
    for (const pkg of ['schema', 'handler-kit']) {
      execFileSync('pnpm', ['pack', '--pack-destination', dir], { cwd: join(ROOT, 'packages', pkg), stdio: 'pipe' });
    }
    const tarballs = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
    const kit = tarballs.find((f) => f.startsWith('vouchflow-handler-kit-'))!;
    const schema = tarballs.find((f) => f.startsWith('vouchflow-schema-'))!;
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'outside-plugin',
        version: '1.0.0',
        private: true,
        type: 'module',
        dependencies: { '@vouchflow/handler-kit': `file:./${kit}`, '@vouchflow/schema': `file:./${schema}` },
      }),
    );
    // The kit's tarball names @vouchflow/schema by version; point that at the tarball too (no registry here).
    writeFileSync(join(dir, 'pnpm-workspace.yaml'), `overrides:\n  '@vouchflow/schema': 'file:./${schema}'\n`);
    writeFileSync(join(dir, 'index.js'), PLUGIN);
    writeFileSync(join(dir, 'check.js'), CHECK);
    execFileSync('pnpm', ['install', '--offline'], { cwd: dir, stdio: 'pipe' });
  });

  afterAll(async () => {
    await Promise.all([ingress?.stop(), worker?.stop()]);
    await deletePrefix(testRedisUrl(), queuePrefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('packs a kit that depends on @vouchflow/schema only, with declarations', () => {
    const kit = JSON.parse(readFileSync(join(dir, 'node_modules/@vouchflow/handler-kit/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      types: string;
    };
    expect(Object.keys(kit.dependencies)).toEqual(['@vouchflow/schema']);
    expect(kit.dependencies['@vouchflow/schema']).not.toMatch(/workspace:/);
    expect(readFileSync(join(dir, 'node_modules/@vouchflow/handler-kit', kit.types), 'utf8')).toContain('defineHandlerFactory');
  });

  it("runs the plugin's own check with its copy of the test kit", () => {
    const out = execFileSync(process.execPath, ['check.js'], { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ first: ['failed', 'retry-later', 5], second: 'done' });
  });

  it('is loaded by the compiled worker through HANDLERS, gets its settings and a narrow logger, and its own RetryLaterError is honoured', async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: queuePrefix,
      VOUCHERIFY_WEBHOOK_SECRET: secret,
      PORT: String(port),
      METRICS_PORT: '0',
      HANDLERS: join(dir, 'index.js'),
      HANDLER_OUTSIDE_GREETING: 'hello from outside',
      HANDLER_OUTSIDE_RETRY_MS: '300',
      // One try only: were the plugin's RetryLaterError not recognised, its first failure would be a dead letter.
      MAX_ATTEMPTS: '1',
    };
    ingress = startApp('ingress', env, { compiled: true });
    worker = startApp('worker', env, { compiled: true });
    await ingress.waitForLog((l) => l.message === 'ingress listening', 30_000);
    const ready = await worker.waitForLog((l) => l.message === 'outside plugin ready', 30_000);
    expect(ready).toMatchObject({
      handler: 'outside',
      greeting: 'hello from outside',
      loggerKeys: ['debug', 'error', 'info', 'warn'],
      canClose: 'undefined',
    });
    // Its own copy of the kit, not the worker's.
    expect(String(ready['kit'])).toContain(`${dir}/node_modules/`);
    await worker.waitForLog((l) => l.message === 'worker started', 30_000);

    const body = JSON.stringify(fixture);
    const res = await fetch(`${base}/webhooks/voucherify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, secret) },
      body,
    });
    expect(res.status).toBe(202);

    const asked = await worker.waitForLog((l) => l.message === 'handler asked to retry later' && l['handler'] === 'outside');
    expect(asked).toMatchObject({ delayMs: 300, reason: 'downstream asked to wait' });
    const handled = await worker.waitForLog((l) => l.message === 'outside plugin handled', 30_000);
    expect(handled).toMatchObject({ handler: 'outside', eventId: fixture.event.id, attempt: 1, tries: 2, points: 40 });
    expect(worker.lines.filter((l) => /dead.?letter/i.test(String(l.message)))).toEqual([]);
  });

  it('without the kit installed, the worker says how to install it', async () => {
    const bare = realpathSync(mkdtempSync(join(tmpdir(), 'vouchflow-bare-plugin-')));
    try {
      writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'bare', type: 'module' }));
      writeFileSync(join(bare, 'index.js'), PLUGIN);
      const lone = startApp(
        'worker',
        { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: queuePrefix, METRICS_PORT: '0', HANDLERS: join(bare, 'index.js') },
        { compiled: true },
      );
      expect(await lone.exited).toBe(1);
      expect(lone.otherOutput.join('\n')).toMatch(
        /^HANDLERS: module ".*index\.js" \(.*\) failed to load: Cannot find package '@vouchflow\/handler-kit'.*; install the packed kit in the plugin's own directory/m,
      );
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
