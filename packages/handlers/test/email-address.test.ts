import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { runHandler } from '@vouchflow/handler-kit/testing';
import { createLogger, decodeEnv } from '@vouchflow/core';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import {
  createBuiltInHandlers,
  createCustomerLookup,
  createEmailHandler,
  createSmtpSender,
  handlersEnv,
  loadTemplates,
  plainAddress,
  type EmailSkipReason,
  type MailSender,
} from '@vouchflow/handlers';
import { startSmtp, type TestSmtp } from './support/smtp.js';
import { json, startHttp, type TestHttp } from './support/http.js';
import { pointsAdded } from './support/deliveries.js';

/*
 * A customer who can set their own address (a merchant's sign-up form) must
 * not get branded mail sent wherever they like: every message goes to one
 * plain address, checked against a real SMTP server's envelope.
 */

const FROM = 'Loyalty <loyalty@shop.example>';
let smtp: TestSmtp;
let sender: MailSender;
let voucherify: TestHttp;
let redis: Redis;
let hostileLookupAddress = '';
const prefix = uniquePrefix('email-address');

beforeAll(async () => {
  smtp = await startSmtp();
  sender = createSmtpSender(smtp.url);
  redis = new Redis(testRedisUrl());
  voucherify = await startHttp((req, res) => json(res, 200, { id: 'cust_x', email: hostileLookupAddress, object: 'customer' }));
});

afterAll(async () => {
  await sender.close();
  await smtp.close();
  await voucherify.close();
  redis.disconnect();
  await deletePrefix(testRedisUrl(), prefix);
});

afterEach(() => {
  smtp.received.length = 0;
});

const skips: EmailSkipReason[] = [];
const handler = (templatesDir?: string) =>
  createEmailHandler({
    from: FROM,
    sender,
    templates: loadTemplates(templatesDir),
    lookup: createCustomerLookup({ apiUrl: voucherify.url, appId: 'a', secretKey: 's', redis, queuePrefix: prefix, cacheSeconds: 0 }),
    onSkipped: (reason) => skips.push(reason),
  });

/** Every address the server was asked to deliver to, envelope and headers alike. */
const recipientsOf = (received: TestSmtp['received']) =>
  received.flatMap(({ envelopeTo, mail }) => [
    ...envelopeTo,
    ...[mail.to, mail.cc, mail.bcc]
      .flatMap((a) => (a === undefined ? [] : Array.isArray(a) ? a : [a]))
      .flatMap((a) => a.value.map((v) => v.address)),
  ]);

describe('the address rule, through the email handler to a real SMTP server', () => {
  it('does not mail a list of addresses: nobody gets it, and the skip is counted', async () => {
    skips.length = 0;
    const run = await runHandler(handler(), pointsAdded({ email: 'buyer@example.com, victim@evil.test' }));
    expect(run).toMatchObject({ status: 'skipped', skipped: expect.stringMatching(/list of addresses/) });
    expect(smtp.received).toEqual([]);
    expect(skips).toEqual(['list']);
    expect(run.logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'email address refused: not sent', reason: 'list' }));
    // The refused address is personal data: the log names the reason, not the value.
    expect(JSON.stringify(run.logs)).not.toContain('victim@evil.test');
  });

  it('does not mail an address with a header break (a Bcc smuggled in)', async () => {
    skips.length = 0;
    const run = await runHandler(handler(), pointsAdded({ email: 'buyer@example.com\r\nBcc: hidden@evil.test' }));
    expect(run.status).toBe('skipped');
    expect(smtp.received).toEqual([]);
    expect(skips).toEqual(['control_character']);
  });

  it.each([
    ['Buyer <buyer@example.com>', 'display_name'],
    ['buyer@example.com victim@evil.test', 'whitespace'],
    ['<victim@evil.test>', 'display_name'],
    ['"victim@evil.test"@example.com', 'display_name'],
    ['buyer@example.com;victim@evil.test', 'list'],
    [' buyer@example.com', 'whitespace'],
    ['buyer@example.com\t', 'control_character'],
    ['buyer(victim@evil.test)@example.com', 'display_name'],
    ['buyer@@example.com', 'malformed'],
    ['buyer', 'malformed'],
    [`${'a'.repeat(250)}@x.test`, 'too_long'],
  ] as const)('refuses %j (%s) and sends nothing', async (address, reason) => {
    skips.length = 0;
    const run = await runHandler(handler(), pointsAdded({ email: address }));
    expect(run.status).toBe('skipped');
    expect(skips).toEqual([reason]);
    expect(smtp.received).toEqual([]);
  });

  it('applies the same rule to an address the Voucherify API returns', async () => {
    skips.length = 0;
    hostileLookupAddress = 'buyer@example.com, victim@evil.test';
    const run = await runHandler(handler(), pointsAdded({ customerId: 'cust_x' }));
    expect(run).toMatchObject({ status: 'skipped', skipped: expect.stringMatching(/list of addresses \(from the Voucherify API\)/) });
    expect(smtp.received).toEqual([]);
    expect(skips).toEqual(['list']);
  });

  it('keeps a subject built from payload data on one header line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vouchflow-subject-'));
    try {
      await writeFile(join(dir, 'points_added.subject.txt'), '{{reason}}');
      const run = await runHandler(
        handler(dir),
        pointsAdded({ email: 'buyer@example.com', reason: 'Spring\r\nBcc: hidden@evil.test\r\nX-Evil: 1\u0000' }),
      );
      expect(run.status).toBe('done');
      const [only] = smtp.received;
      expect(only?.envelopeTo).toEqual(['buyer@example.com']);
      expect(only?.mail.subject).toBe('Spring Bcc: hidden@evil.test X-Evil: 1');
      expect(only?.mail.headers.has('x-evil')).toBe(false);
      expect(only?.mail.bcc).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts refusals in vouchflow_email_skipped_total{reason} of the built-ins', async () => {
    const config = { ...decodeEnv(handlersEnv, { SMTP_URL: smtp.url }), NODE_ENV: 'test' };
    const builtIns = createBuiltInHandlers({ config, redis, queuePrefix: prefix, logger: createLogger({ level: 'error' }) });
    try {
      await runHandler(builtIns.all['email']!, pointsAdded({ email: 'a@x.test,b@y.test' }));
      await runHandler(builtIns.all['email']!, pointsAdded({ email: 'buyer@example.com' }));
      const text = await builtIns.registry.metrics();
      expect(text).toContain('vouchflow_email_skipped_total{reason="list"} 1');
      expect(recipientsOf(smtp.received)).toEqual(['buyer@example.com', 'buyer@example.com']);
    } finally {
      await builtIns.close();
    }
  });
});

describe('property: generated addresses, valid and hostile, through the handler to SMTP', () => {
  const address = fc.emailAddress({ size: 'small' });
  const glue = fc.constantFrom(
    ', ',
    ',',
    ';',
    ' ',
    '\r\n',
    '\n',
    '\r',
    '\r\nBcc: ',
    '\nCc: ',
    '\r\nTo: ',
    ' <',
    '>',
    '"',
    '\t',
    '\u0000',
    '\u2028',
  );
  const hostile = fc.oneof(
    fc.tuple(address, glue, address).map(([a, g, b]) => `${a}${g}${b}`),
    fc.tuple(fc.string({ maxLength: 8 }), address).map(([name, a]) => `${name} <${a}>`),
    fc.tuple(fc.string({ maxLength: 8 }), address).map(([name, a]) => `"${name}" <${a}>`),
    fc.tuple(address, glue).map(([a, g]) => `${a}${g}`),
    fc.tuple(glue, address).map(([g, a]) => `${g}${a}`),
    fc
      .array(fc.oneof(address, glue, fc.string({ maxLength: 4, unit: 'binary' })), { minLength: 1, maxLength: 5 })
      .map((parts) => parts.join('')),
  );

  it('never delivers to more than one recipient, nor to anyone but the generated address', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(address, hostile), async (generated) => {
        smtp.received.length = 0;
        const run = await runHandler(handler(), pointsAdded({ email: generated }));
        const recipients = recipientsOf(smtp.received);
        for (const { envelopeTo } of smtp.received) expect(envelopeTo.length).toBeLessThanOrEqual(1);
        // Every recipient is the whole generated string: nothing taken out of it, nothing added.
        for (const r of recipients) expect(r?.toLowerCase()).toBe(generated.toLowerCase());
        if (plainAddress(generated).address !== undefined) {
          expect(run.status).toBe('done');
          expect(smtp.received).toHaveLength(1);
        } else {
          expect(run.status).toBe('skipped');
          expect(smtp.received).toHaveLength(0);
        }
      }),
      { numRuns: 150 },
    );
  });
});
