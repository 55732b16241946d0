import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { CHROMIUM_PATH, launchChromium } from '@vouchflow/test-support/chromium';
import { Deployment, delivery, startAdmin, switchableHandler, waitForEvents, type AdminProcess } from './support.js';

/*
 * The README's pictures of the dashboard: its queue view and its dead-letter
 * view, taken from the real admin process in Debian's Chromium. Every run
 * takes them and checks what they show; UPDATE_SCREENSHOTS=1 writes them to
 * docs/images/ (otherwise to a temporary directory), so they are renewed with
 * `UPDATE_SCREENSHOTS=1 pnpm vitest run apps/ops/test/screenshots.browser.test.ts`.
 */

const hasChromium = existsSync(CHROMIUM_PATH);
const TOKEN = 'screenshot-admin-token-0123456789';
const ROOT = resolve(import.meta.dirname, '../../..');

describe.skipIf(!hasChromium)('the dashboard screenshots in the README', () => {
  const d = new Deployment();
  const email = switchableHandler('email');
  const crm = switchableHandler('crm');
  const samples = [delivery(), delivery(), delivery()];
  const update = process.env['UPDATE_SCREENSHOTS'] === '1';
  const outDir = update ? join(ROOT, 'docs', 'images') : mkdtempSync(join(tmpdir(), 'vouchflow-screens-'));
  let admin: AdminProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    crm.down = true;
    await d.start([email, crm]);
    const crmEvents = await d.events('crm');
    const failed = samples.map((s) => waitForEvents<{ jobId: string }>(crmEvents, 'failed', (a) => a.jobId === `ev-${s.eventId}-crm`));
    for (const s of samples) await d.send(s);
    await Promise.all(failed);
    admin = await startAdmin({ ...d.env, ADMIN_TOKEN: TOKEN, ADMIN_PORT: '0' });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await admin?.stop();
    await d.cleanup();
    if (!update) rmSync(outDir, { recursive: true, force: true });
  });

  it('shows the queues, then the dead letters of the failing handler', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    try {
      await page.goto(`${admin!.base}/login?next=/dashboard`);
      await page.getByLabel('Admin token').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((url) => url.pathname.startsWith('/dashboard'));

      // The queue view: every queue with its counts; handler-crm has the three dead letters.
      await expect.poll(() => page.getByText('handler-crm').count(), { timeout: 15_000 }).toBeGreaterThan(0);
      await expect.poll(() => page.getByText('intake').count()).toBeGreaterThan(0);
      // The overview fills in after its first poll of the API.
      await expect.poll(() => page.getByText('Loading', { exact: false }).count(), { timeout: 15_000 }).toBe(0);
      await expect.poll(() => page.locator('main').getByText('handler-crm').count(), { timeout: 15_000 }).toBeGreaterThan(0);
      const queues = join(outDir, 'dashboard-queues.png');
      await page.screenshot({ path: queues, fullPage: true });

      // The dead-letter view: the failed set of handler-crm, each with its error.
      await page.goto(`${admin!.base}/dashboard/queue/handler-crm?status=failed`);
      for (const s of samples) {
        await expect.poll(() => page.getByText(`ev-${s.eventId}-crm`, { exact: true }).count(), { timeout: 15_000 }).toBe(1);
      }
      await expect.poll(() => page.getByText('crm is down: 400 Bad Request').count()).toBeGreaterThan(0);
      const deadLetters = join(outDir, 'dashboard-dead-letters.png');
      await page.screenshot({ path: deadLetters, fullPage: true });

      for (const file of [queues, deadLetters]) expect(statSync(file).size).toBeGreaterThan(10_000);
    } finally {
      await context.close();
    }
  });
});
