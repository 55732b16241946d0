import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ConfigError, createLogger, decodeEnv } from '@vouchflow/core';
import { EVENT_TYPES } from '@vouchflow/schema';
import { testRedisUrl } from '@vouchflow/test-support';
import { BALANCE_EVENT_NAMES, createBuiltInHandlers, EMAIL_EVENT_NAMES, handlersEnv } from '@vouchflow/handlers';

const redis = new Redis(testRedisUrl(), { lazyConnect: true });
const logger = createLogger({ level: 'error' });
afterAll(() => redis.disconnect());

const builtIns = (env: Record<string, string>, nodeEnv = 'development') =>
  createBuiltInHandlers({ config: { ...decodeEnv(handlersEnv, env), NODE_ENV: nodeEnv }, redis, queuePrefix: 'unused', logger });

describe('createBuiltInHandlers', () => {
  it('runs email (to the outbox) and log by default in development; crm needs CRM_TOKEN', async () => {
    const b = builtIns({});
    expect(b.defaults).toEqual(['email', 'log']);
    expect(Object.keys(b.all).sort()).toEqual(['email', 'log']);
    expect(b.unavailable['crm']).toMatch(/CRM_TOKEN/);
    await b.close();
  });

  it('drops log from the defaults in production and adds crm when CRM_TOKEN is set', async () => {
    const b = builtIns({ CRM_TOKEN: 'pat-1', SMTP_URL: 'smtp://127.0.0.1:2525' }, 'production');
    expect(b.defaults).toEqual(['email', 'crm']);
    expect(b.all['log']).toBeDefined();
    expect(b.all['crm']?.events).toEqual(BALANCE_EVENT_NAMES);
    await b.close();
  });

  it('in production, runs email by default only with SMTP_URL (an outbox on disk is not delivery)', async () => {
    const b = builtIns({}, 'production');
    expect(b.defaults).toEqual([]);
    expect(b.all['email']).toBeDefined();
    await b.close();
  });

  it('subscribes to every balance-changing and mail-worthy event, each with a codec', () => {
    for (const name of [...BALANCE_EVENT_NAMES, ...EMAIL_EVENT_NAMES]) expect(EVENT_TYPES).toContain(name);
    expect(BALANCE_EVENT_NAMES).toContain('voucher.loyalty_card.transaction.created');
    expect(EMAIL_EVENT_NAMES).toContain('voucher.loyalty_card.pending_points.added');
  });
});

describe('handlersEnv', () => {
  it('has the documented defaults', () => {
    const config = decodeEnv(handlersEnv, {});
    expect(config).toMatchObject({
      EMAIL_FROM: 'Loyalty <loyalty@example.com>',
      OUTBOX_DIR: './outbox',
      VOUCHERIFY_API_URL: 'https://api.voucherify.io',
      CRM_URL: 'https://api.hubapi.com',
      CRM_ID_PROPERTY: 'voucherify_customer_id',
      CRM_PROPERTIES: {},
      CUSTOMER_CACHE_SECONDS: 900,
    });
    expect(config.SMTP_URL).toBeUndefined();
  });

  it('reads CRM property renames and names a bad one', () => {
    expect(decodeEnv(handlersEnv, { CRM_PROPERTIES: 'balance=points, card_code=card' }).CRM_PROPERTIES).toEqual({
      balance: 'points',
      card_code: 'card',
    });
    expect(() => decodeEnv(handlersEnv, { CRM_PROPERTIES: 'balanse=points' })).toThrow(/CRM_PROPERTIES: unknown key "balanse"/);
    expect(() => decodeEnv(handlersEnv, { CRM_PROPERTIES: 'balance=Points Balance' })).toThrow(ConfigError);
  });

  it('refuses a non-SMTP SMTP_URL without echoing it', () => {
    expect(() => decodeEnv(handlersEnv, { SMTP_URL: 'http://user:hunter2@mail' })).toThrow(/SMTP_URL: expected a smtp or smtps URL/);
    try {
      decodeEnv(handlersEnv, { SMTP_URL: 'http://user:hunter2@mail' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});
