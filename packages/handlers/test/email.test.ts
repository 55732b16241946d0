import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { simpleParser } from 'mailparser';
import { runHandler } from '@vouchflow/handler-kit/testing';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import {
  createCustomerLookup,
  createEmailHandler,
  createOutboxSender,
  createSmtpSender,
  loadTemplates,
  TemplateError,
  type MailSender,
} from '@vouchflow/handlers';
import { startSmtp, type TestSmtp } from './support/smtp.js';
import { json, startHttp, type TestHttp } from './support/http.js';
import { pendingActivated, pendingAdded, pointsAdded, pointsExpired } from './support/deliveries.js';

const FROM = 'Loyalty <loyalty@shop.example>';
const CUSTOMER = 'cust_2p0TvCOvB25HWUrW9JFf4czJ';

let smtp: TestSmtp;
let smtpSender: MailSender;
let voucherify: TestHttp;
let redis: Redis;
const prefix = uniquePrefix('email');

beforeAll(async () => {
  smtp = await startSmtp();
  smtpSender = createSmtpSender(smtp.url);
  redis = new Redis(testRedisUrl());
  voucherify = await startHttp((req, res) => {
    if (req.headers['x-app-id'] !== 'app-1' || req.headers['x-app-token'] !== 'secret-1') {
      return json(res, 401, { code: 401, message: 'Unauthorized', key: 'unauthorized' });
    }
    if (req.url === `/v1/customers/${CUSTOMER}`) return json(res, 200, { id: CUSTOMER, email: 'alex@shop.example', object: 'customer' });
    if (req.url === '/v1/customers/cust_noemail') return json(res, 200, { id: 'cust_noemail', email: null, object: 'customer' });
    return json(res, 404, { code: 404, message: 'Resource not found', key: 'not_found' });
  });
});

afterAll(async () => {
  await smtpSender.close();
  await smtp.close();
  await voucherify.close();
  redis.disconnect();
  await deletePrefix(testRedisUrl(), prefix);
});

afterEach(() => {
  smtp.received.length = 0;
  voucherify.requests.length = 0;
});

const lookup = (secretKey = 'secret-1') =>
  createCustomerLookup({ apiUrl: voucherify.url, appId: 'app-1', secretKey, redis, queuePrefix: prefix, cacheSeconds: 60 });

const emailHandler = (options: Partial<Parameters<typeof createEmailHandler>[0]> = {}) =>
  createEmailHandler({ from: FROM, sender: smtpSender, lookup: lookup(), templates: loadTemplates(undefined), ...options });

describe('email over SMTP', () => {
  it('mails points added to the address in the event: recipient, subject, text and HTML', async () => {
    const run = await runHandler(emailHandler(), pointsAdded({ email: 'alex@shop.example' }));
    expect(run.status).toBe('done');
    expect(smtp.received).toHaveLength(1);
    const { envelopeTo, mail } = smtp.received[0]!;
    expect(envelopeTo).toEqual(['alex@shop.example']);
    expect(mail.from?.value).toEqual([{ name: 'Loyalty', address: 'loyalty@shop.example' }]);
    expect(mail.subject).toBe('You earned 40 points');
    expect(mail.text).toContain('Hi Alex Doe,');
    expect(mail.text).toContain('You earned 40 points (Spring time). Your balance is now 2641 points.');
    expect(mail.text).toContain('Card: NK5iReoi');
    expect(mail.html).toContain('<strong>40 points</strong> (Spring time)');
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(run.logs).toContainEqual(expect.objectContaining({ message: 'email sent', customerId: CUSTOMER, template: 'points_added' }));
    // No personal data in logs: the address never appears.
    expect(JSON.stringify(run.logs)).not.toContain('alex@shop.example');
  });

  it('derives the Message-ID from the idempotency key, so a retry is the same message', async () => {
    const handler = emailHandler();
    await runHandler(handler, pointsAdded({ email: 'alex@shop.example' }));
    await runHandler(handler, pointsAdded({ email: 'alex@shop.example' }), { attempt: 2 });
    await runHandler(handler, pointsAdded({ email: 'alex@shop.example' }), { idempotencyKey: 'email:vtx_other' });
    const ids = smtp.received.map((r) => r.mail.messageId);
    expect(ids[0]).toMatch(/^<[0-9a-f]{32}@shop\.example>$/);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it('escapes values in HTML and leaves them readable in text', async () => {
    await runHandler(emailHandler(), pointsAdded({ email: 'alex@shop.example', reason: '<script>alert("x")</script> & more' }));
    const { mail } = smtp.received[0]!;
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more');
    expect(mail.html).not.toContain('<script>');
    expect(mail.text).toContain('(<script>alert("x")</script> & more)');
  });

  it('leaves the reason out when there is none', async () => {
    await runHandler(emailHandler(), pointsAdded({ email: 'alex@shop.example', reason: null }));
    expect(smtp.received[0]!.mail.text).toContain('You earned 40 points. Your balance');
  });

  it('mails points expired, pending points added and pending points activated', async () => {
    const handler = emailHandler();
    expect((await runHandler(handler, pointsExpired('alex@shop.example'))).status).toBe('done');
    expect((await runHandler(handler, pendingAdded('alex@shop.example'))).status).toBe('done');
    expect((await runHandler(handler, pendingActivated('alex@shop.example'))).status).toBe('done');
    const [expired, added, activated] = smtp.received.map((r) => r.mail);
    expect(expired?.subject).toBe('70 of your points expired');
    expect(expired?.text).toContain('70 points on your card expired. Your balance is now 262 points.');
    expect(added?.subject).toBe('150 points are on their way');
    expect(added?.text).toContain('150 points are pending on your card and become available on 2024-04-10T00:00:00.000Z.');
    expect(activated?.subject).toBe('Your 150 pending points are now available');
    expect(activated?.text).toContain('Your balance is now 2791 points.');
  });

  it('retries a 4XX from the server (greylisting)', async () => {
    const run = await runHandler(emailHandler(), pointsAdded({ email: 'alex@greylisted.test' }));
    expect(run).toMatchObject({ status: 'failed', errorKind: 'retryable' });
    if (run.status === 'failed') expect(run.error.message).toMatch(/451/);
    expect(smtp.received).toHaveLength(0);
  });

  it('gives up on a 5XX for the recipient', async () => {
    const run = await runHandler(emailHandler(), pointsAdded({ email: 'ghost@nowhere.test' }));
    expect(run).toMatchObject({ status: 'failed', errorKind: 'permanent' });
    if (run.status === 'failed') expect(run.error.message).toMatch(/550.*No such user/);
  });

  it('retries when the SMTP server is unreachable', async () => {
    const down = createSmtpSender('smtp://127.0.0.1:1');
    try {
      const run = await runHandler(emailHandler({ sender: down }), pointsAdded({ email: 'alex@shop.example' }));
      expect(run).toMatchObject({ status: 'failed', errorKind: 'retryable' });
    } finally {
      await down.close();
    }
  });
});

describe('recipient lookup through the Voucherify API', () => {
  it('finds the address, sends to it, and caches it in Redis under the deployment prefix', async () => {
    const handler = emailHandler();
    const run = await runHandler(handler, pointsAdded());
    expect(run.status).toBe('done');
    expect(smtp.received[0]?.envelopeTo).toEqual(['alex@shop.example']);
    expect(voucherify.requests).toHaveLength(1);
    expect(voucherify.requests[0]).toMatchObject({ method: 'GET', url: `/v1/customers/${CUSTOMER}` });
    expect(await redis.get(`{${prefix}}:email:customer-email:${CUSTOMER}`)).toBe(JSON.stringify({ email: 'alex@shop.example' }));

    await runHandler(handler, pointsAdded());
    expect(voucherify.requests).toHaveLength(1);
    expect(smtp.received).toHaveLength(2);
  });

  it('skips, with the reason, a customer without an address', async () => {
    const run = await runHandler(emailHandler(), pointsAdded({ customerId: 'cust_noemail' }));
    expect(run).toMatchObject({ status: 'skipped', skipped: 'the customer has no e-mail address in Voucherify' });
    expect(run.logs).toContainEqual(expect.objectContaining({ message: 'email skipped', customerId: 'cust_noemail' }));
    expect(smtp.received).toHaveLength(0);
  });

  it('skips a customer Voucherify does not know', async () => {
    const run = await runHandler(emailHandler(), pointsAdded({ customerId: 'cust_gone' }));
    expect(run).toMatchObject({ status: 'skipped', skipped: 'the customer does not exist in Voucherify' });
  });

  it('dead-letters on 401: the credentials are wrong', async () => {
    const run = await runHandler(emailHandler({ lookup: lookup('wrong') }), pointsAdded({ customerId: 'cust_other' }));
    expect(run).toMatchObject({ status: 'failed', errorKind: 'permanent' });
    if (run.status === 'failed') expect(run.error.message).toMatch(/401: Unauthorized.*VOUCHERIFY_APP_ID/);
  });

  it('skips with a clear reason when the API is not configured', async () => {
    const unconfigured = createCustomerLookup({ apiUrl: voucherify.url, redis, queuePrefix: prefix, cacheSeconds: 60 });
    const run = await runHandler(emailHandler({ lookup: unconfigured }), pointsAdded());
    expect(run.status).toBe('skipped');
    if (run.status === 'skipped') expect(run.skipped).toMatch(/no e-mail address.*VOUCHERIFY_APP_ID and VOUCHERIFY_SECRET_KEY/);
    expect(voucherify.requests).toHaveLength(0);
  });
});

describe('outbox and templates', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vouchflow-email-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a readable .eml per message when there is no SMTP server', async () => {
    const outbox = createOutboxSender(join(dir, 'outbox'));
    try {
      const run = await runHandler(emailHandler({ sender: outbox }), pointsAdded({ email: 'alex@shop.example' }));
      expect(run.status).toBe('done');
      const files = await readdir(join(dir, 'outbox'));
      expect(files).toEqual(['email_vtx_0e6d44043e9e51d377.eml']);
      const mail = await simpleParser(await readFile(join(dir, 'outbox', files[0]!)));
      expect(mail.to && !Array.isArray(mail.to) ? mail.to.text : '').toBe('alex@shop.example');
      expect(mail.subject).toBe('You earned 40 points');
      expect(mail.text).toContain('Your balance is now 2641 points.');
      expect(mail.html).toContain('<strong>2641 points</strong>');
    } finally {
      await outbox.close();
    }
  });

  it('replaces templates from a directory, part by part', async () => {
    const templates = join(dir, 'templates');
    await import('node:fs/promises').then((fs) => fs.mkdir(templates));
    await writeFile(join(templates, 'points_added.subject.txt'), '+{{points}} for {{customer_name}}');
    await writeFile(join(templates, 'points_added.html'), '<p>{{points}} &rarr; {{balance}}{{#reason}}, {{reason}}{{/reason}}</p>');
    const handler = emailHandler({ templates: loadTemplates(templates) });
    await runHandler(handler, pointsAdded({ email: 'alex@shop.example', reason: 'Tom & Jerry' }));
    const { mail } = smtp.received[0]!;
    expect(mail.subject).toBe('+40 for Alex Doe');
    expect(mail.html).toBe('<p>40 &rarr; 2641, Tom &amp; Jerry</p>');
    // The text part was not replaced.
    expect(mail.text).toContain('You earned 40 points (Tom & Jerry).');
  });

  it('refuses at start a template with an unknown value or a stray file', async () => {
    const bad = join(dir, 'bad');
    await import('node:fs/promises').then((fs) => fs.mkdir(bad));
    await writeFile(join(bad, 'points_added.txt'), 'Hi {{frist_name}}');
    expect(() => loadTemplates(bad)).toThrow(TemplateError);
    expect(() => loadTemplates(bad)).toThrow(/points_added.txt: unknown value \{\{frist_name\}\}/);
    await rm(join(bad, 'points_added.txt'));
    await writeFile(join(bad, 'points-added.html'), '');
    expect(() => loadTemplates(bad)).toThrow(/unexpected points-added.html/);
    expect(() => loadTemplates(join(dir, 'missing'))).toThrow(/does not exist/);
  });
});
