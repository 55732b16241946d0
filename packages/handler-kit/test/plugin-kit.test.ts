import { describe, expect, it } from 'vitest';
import * as t from 'io-ts';
import {
  buildHandler,
  classifyError,
  defineHandler,
  defineHandlerFactory,
  ERROR_KIND,
  HandlerSettingsError,
  isEventOf,
  narrowLogger,
  PermanentError,
  RetryLaterError,
  settingsInput,
} from '@vouchflow/handler-kit';
import { captureLogger, runHandler } from '@vouchflow/handler-kit/testing';

describe('the test kit runs a handler as the worker does', () => {
  it('hands over a deep-frozen event: a handler that changes it fails, as it would in production', async () => {
    const mutating = defineHandler({
      name: 'mutating',
      events: ['customer.voucher.loyalty_card.points_added'],
      async handle(event) {
        // @ts-expect-error: the event is read-only; the compiler says so first
        event.data.balance.points = 0;
      },
    });
    const run = await runHandler(mutating, 'points_added');
    expect(run).toMatchObject({ status: 'failed', errorKind: 'retryable' });
    if (run.status === 'failed') expect(run.error.message).toMatch(/read only property 'points'|Cannot assign to read only/);
    expect(Object.isFrozen(run.event.data)).toBe(true);
  });

  it('narrows a read-only event by name inside a wildcard handler', async () => {
    const wildcard = defineHandler({
      name: 'wildcard',
      events: ['*'],
      async handle(event) {
        if (isEventOf(event, 'customer.voucher.loyalty_card.points_added')) return { skipped: `points ${event.data.balance.points}` };
        return { skipped: 'other' };
      },
    });
    expect(await runHandler(wildcard, 'points_added')).toMatchObject({ status: 'skipped', skipped: 'points 40' });
    expect(await runHandler(wildcard, 'points_expired')).toMatchObject({ status: 'skipped', skipped: 'other' });
  });
});

describe('errors are recognised by their brand, from any copy of the kit', () => {
  // What a second copy of the kit (a plugin's own node_modules) defines: same brand key, another class.
  class ForeignRetryLaterError extends Error {
    readonly [ERROR_KIND] = 'retry-later' as const;
    constructor(readonly delayMs: number) {
      super('foreign');
    }
  }
  class ForeignPermanentError extends Error {
    constructor(message: string) {
      super(message);
      // Spelt out rather than imported: a copy of the kit shares the key by name only.
      Object.defineProperty(this, Symbol.for('@vouchflow/handler-kit:error-kind'), { value: 'permanent' });
    }
  }

  it('classifies a foreign copy by the Symbol.for brand, and instanceof agrees', () => {
    expect(classifyError(new ForeignRetryLaterError(10))).toBe('retry-later');
    expect(classifyError(new ForeignPermanentError('x'))).toBe('permanent');
    expect(new ForeignRetryLaterError(10) instanceof RetryLaterError).toBe(true);
    expect(new ForeignPermanentError('x') instanceof PermanentError).toBe(true);
    expect(new ForeignPermanentError('x') instanceof RetryLaterError).toBe(false);
    expect(new Error('plain') instanceof PermanentError).toBe(false);
    expect(classifyError(new Error('plain'))).toBe('retryable');
  });

  it('keeps ordinary instanceof for a subclass', () => {
    class GoneError extends PermanentError {}
    expect(new GoneError('gone') instanceof GoneError).toBe(true);
    expect(new PermanentError('other') instanceof GoneError).toBe(false);
    expect(classifyError(new GoneError('gone'))).toBe('permanent');
  });

  it('the test kit reports a foreign retry-later with its delay', async () => {
    const run = await runHandler(
      {
        name: 'foreign',
        events: ['*'],
        handle: async () => {
          throw new ForeignRetryLaterError(1234);
        },
      },
      'points_added',
    );
    expect(run).toMatchObject({ status: 'failed', errorKind: 'retry-later', retryAfterMs: 1234 });
  });
});

describe('handler factories', () => {
  const factory = defineHandlerFactory({
    name: 'to-chat',
    settings: t.type({ ROOM: t.string }),
    create: ({ settings, logger }) => {
      logger.info('ready', { room: settings.ROOM });
      return defineHandler({ name: 'to-chat', events: ['customer.voucher.loyalty_card.points_added'], handle: async () => undefined });
    },
  });

  it('reads HANDLER_<NAME>_* only, decodes them with the codec and passes the logger', async () => {
    expect(
      settingsInput('to-chat', { HANDLER_TO_CHAT_ROOM: 'loyalty', HANDLER_TO_CHATTER_X: 'no', ROOM: 'no', HANDLER_TO_CHAT_EMPTY: ' ' }),
    ).toEqual({
      ROOM: 'loyalty',
    });
    const { logger, lines } = captureLogger();
    const handler = await buildHandler(factory, { HANDLER_TO_CHAT_ROOM: 'loyalty' }, logger);
    expect(handler.name).toBe('to-chat');
    expect(lines).toEqual([expect.objectContaining({ level: 'info', message: 'ready', room: 'loyalty' })]);
  });

  it('refuses settings that do not decode, naming the variable', async () => {
    const error = await buildHandler(factory, {}, captureLogger().logger).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerSettingsError);
    expect((error as Error).message).toBe(
      'settings of "to-chat" (HANDLER_TO_CHAT_*): HANDLER_TO_CHAT_ROOM: expected string, got nothing (unset)',
    );
  });

  it('narrows a logger to its four methods: nothing else is reachable, even through a cast', () => {
    const calls: string[] = [];
    const full = { debug() {}, info: (m: string) => void calls.push(m), warn() {}, error() {}, close: () => calls.push('closed') };
    const narrow = narrowLogger(full);
    narrow.info('hello');
    expect(calls).toEqual(['hello']);
    expect(Object.keys(narrow).sort()).toEqual(['debug', 'error', 'info', 'warn']);
    expect((narrow as unknown as { close?: unknown }).close).toBeUndefined();
    expect(Object.isFrozen(narrow)).toBe(true);
  });
});
