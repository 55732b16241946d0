import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { CHROMIUM_PATH, launchChromium } from '@vouchflow/test-support/chromium';
import type { QueueEvents } from 'bullmq';
import { PermanentError, type AnyHandler } from '@vouchflow/handler-kit';
import { handlerJobId, type IntakeJobData } from '@vouchflow/pipeline';
import { Deployment, ROOT, startAdmin, waitForEvents, type AdminProcess } from './support.js';

/*
 * The event page as support uses it, in Debian's Chromium against
 * `pnpm start:admin` as a real process: sign in, search by the customer's
 * e-mail (typed in another case), open the event, read each handler's
 * outcome, retry the CRM's dead letter and see it run. What the delivery and
 * the errors say is shown as text, never as markup.
 */

const hasChromium = existsSync(CHROMIUM_PATH);
const TOKEN = 'browser-test-admin-token-0123456789';
const EVIL = '<img src=x onerror="document.title=\'pwned\'">';

/** Voucherify's own points_expired example, its customer's name made hostile. */
function pointsExpired(): IntakeJobData {
  const body = JSON.parse(
    readFileSync(resolve(ROOT, 'packages/schema/fixtures/spec/voucher.loyalty_card.points_expired.json'), 'utf8'),
  ) as {
    event: { id: string; type: string };
    data: { customer: { name?: string } };
  };
  body.data.customer.name = EVIL;
  return { body: JSON.stringify(body), eventId: body.event.id, eventType: body.event.type, receivedAt: Date.now() };
}

describe.skipIf(!hasChromium)(
  hasChromium
    ? 'the event page in headless Chromium'
    : `the event page in headless Chromium: SKIPPED, ${CHROMIUM_PATH} is not installed (apt-get install chromium; .ci/run does)`,
  { timeout: 90_000 },
  () => {
    const d = new Deployment();
    const sent = pointsExpired();
    const crm = {
      name: 'crm',
      events: ['voucher.*'],
      down: true,
      runs: [] as string[],
      async handle(event: { event: { id: string } }) {
        if (crm.down) throw new PermanentError(`CRM answered 400: ${EVIL}`);
        crm.runs.push(event.event.id);
      },
    };
    const email: AnyHandler = { name: 'email', events: ['*'], handle: async () => {} };
    let crmEvents: QueueEvents;
    let admin: AdminProcess | undefined;
    let browser: Browser | undefined;

    beforeAll(async () => {
      await d.start([email, crm as AnyHandler], { inlineFirstTry: true });
      crmEvents = await d.events('crm');
      const failed = waitForEvents(crmEvents, 'failed');
      await d.send(sent);
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

    it('signs in, finds the customer by e-mail, shows each handler’s outcome, and retries the dead letter', async () => {
      const context = await browser!.newContext();
      const page = await context.newPage();
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      try {
        await page.goto(`${admin!.base}/dashboard/events`);
        expect(new URL(page.url()).pathname).toBe('/login');
        await page.getByLabel('Admin token').fill(TOKEN);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL((url) => url.pathname === '/dashboard/events');

        await page.getByRole('searchbox').fill('Lukasz.Kulig@VOUCHERIFY.io');
        await page.getByRole('button', { name: 'Search' }).click();
        await page.getByRole('link', { name: sent.eventId }).click();
        await page.waitForURL((url) => url.pathname === `/dashboard/events/${sent.eventId}`);

        const row = (handler: string) => page.locator(`#handlers tr[data-handler="${handler}"]`);
        expect(await row('email').locator('td').nth(1).textContent()).toBe('completed');
        expect(await row('crm').locator('td').nth(1).textContent()).toBe('dead');
        // Hostile text from the delivery and the error is shown as text.
        expect(await row('crm').textContent()).toContain(`CRM answered 400: ${EVIL}`);
        // Each failed try of the unit's job, with its error.
        expect(await row('crm').locator('details summary').textContent()).toBe('1 failed try of its job');
        expect(await row('crm').locator('details li').textContent()).toBe(`PermanentError: CRM answered 400: ${EVIL}`);
        expect(await page.locator('#delivery').textContent()).toContain(EVIL.replaceAll('"', '\\"'));
        expect(await page.locator('img').count()).toBe(0);

        // Links both ways with bull-board's queue view.
        const queueLink = page.getByRole('link', { name: 'dead letters of handler-crm' });
        expect(await queueLink.getAttribute('href')).toBe('/dashboard/queue/handler-crm?status=failed');

        crm.down = false;
        const jobId = handlerJobId(sent.eventId, 'crm');
        const processed = waitForEvents<{ jobId: string }>(crmEvents, 'completed', (a) => a.jobId === jobId);
        await page.locator('#dead-letters').getByRole('button', { name: 'Retry' }).click();
        await expect.poll(() => page.getByRole('status').textContent()).toContain('Retried');
        await processed;
        expect(crm.runs).toEqual([sent.eventId]);
        await expect
          .poll(
            async () => {
              await page.reload();
              return row('crm').locator('td').nth(1).textContent();
            },
            { timeout: 15_000 },
          )
          .toBe('completed');
        expect(await page.locator('#dead-letters').count()).toBe(0);

        // Replay names its handler, and goes through the same operation as `pnpm ops replay --handler email`.
        await row('email').getByRole('button', { name: 'Replay email' }).click();
        await expect.poll(() => page.getByRole('status').textContent()).toBe('Replaying for email.');
        await expect
          .poll(
            async () => {
              await page.reload();
              return page.locator('#handlers tr[data-handler="email"]').count();
            },
            { timeout: 15_000 },
          )
          .toBe(2);

        await page.goto(`${admin!.base}/dashboard/queue/handler-crm`);
        // bull-board's header menu (its last action) holds the link back.
        await page.locator('ul[class*="actions"] > li').last().locator('button').click();
        const back = page.getByText('Find events', { exact: true });
        await back.click();
        await page.waitForURL((url) => url.pathname === '/dashboard/events');
        expect(dialogs).toEqual([]);
        expect(await page.title()).not.toBe('pwned');
      } finally {
        await context.close();
      }
    });
  },
);
