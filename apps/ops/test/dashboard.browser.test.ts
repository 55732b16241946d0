import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { CHROMIUM_PATH, launchChromium } from '@vouchflow/test-support/chromium';
import type { QueueEvents } from 'bullmq';
import { openHandlerQueue } from '@vouchflow/pipeline';
import { Deployment, delivery, startAdmin, switchableHandler, waitForEvents, type AdminProcess } from './support.js';

/*
 * The dashboard as an operator uses it: Debian's Chromium (never a
 * downloaded browser) driven by playwright-core against `pnpm start:admin`
 * as a real process. CI installs the package (.ci/run).
 */

const hasChromium = existsSync(CHROMIUM_PATH);
const TOKEN = 'browser-test-admin-token-0123456789';

describe.skipIf(!hasChromium)(
  hasChromium
    ? 'the dashboard in headless Chromium'
    : `the dashboard in headless Chromium: SKIPPED, ${CHROMIUM_PATH} is not installed (apt-get install chromium; .ci/run does)`,
  () => {
    const d = new Deployment();
    const crm = switchableHandler('crm');
    const sample = delivery();
    let crmEvents: QueueEvents;
    let admin: AdminProcess | undefined;
    let browser: Browser | undefined;

    beforeAll(async () => {
      crm.down = true;
      await d.start([crm]);
      crmEvents = await d.events('crm');
      const failed = waitForEvents(crmEvents, 'failed');
      await d.send(sample);
      await failed;
      admin = await startAdmin({ ...d.env, ADMIN_TOKEN: TOKEN, ADMIN_PORT: '0' });
      browser = await launchChromium();
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      const code = await admin?.stop();
      await d.cleanup();
      expect(code).toBe(0);
    });

    it('logs in with the token, finds the dead letter, retries it, and it is processed', async () => {
      const context = await browser!.newContext();
      const page = await context.newPage();
      const jobId = `ev-${sample.eventId}-crm`;
      try {
        // A page load cannot carry a Bearer header: the guard sends the browser to the login form.
        await page.goto(`${admin!.base}/dashboard/queue/handler-crm?status=failed`);
        expect(new URL(page.url()).pathname).toBe('/login');
        await page.getByLabel('Admin token').fill(TOKEN);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL((url) => url.pathname === '/dashboard/queue/handler-crm');

        // The cookie that let us in is out of reach of the page's scripts.
        const [cookie] = await context.cookies();
        expect(cookie).toMatchObject({ name: 'vouchflow_admin', httpOnly: true, sameSite: 'Strict' });

        const card = page.locator('div[class*="card-"]', { has: page.getByText(jobId, { exact: true }) });
        await expect.poll(() => card.count(), { timeout: 15_000 }).toBe(1);
        await expect.poll(() => card.getByText('crm is down: 400 Bad Request').count()).toBeGreaterThan(0);

        crm.down = false;
        const processed = waitForEvents<{ jobId: string }>(crmEvents, 'completed', (a) => a.jobId === jobId);
        await card.locator('button:has(svg.lucide-refresh-cw)').click();
        await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
        await processed;
        expect(crm.runs).toEqual([sample.eventId]);
        // Through the dead-letter store, with fresh attempts: bull-board's own retry would have counted on from the spent one.
        const queue = openHandlerQueue('crm', { connection: d.redis, queuePrefix: d.prefix });
        try {
          expect((await queue.getJob(jobId))?.attemptsMade).toBe(1);
        } finally {
          await queue.close();
        }

        await page.goto(`${admin!.base}/dashboard/queue/handler-crm?status=completed`);
        await expect.poll(() => page.getByText(jobId, { exact: true }).count(), { timeout: 15_000 }).toBe(1);
      } finally {
        await context.close();
      }
    });
  },
);
