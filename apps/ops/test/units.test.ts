import { describe, expect, it } from 'vitest';
import { ConfigError, HOUR, MINUTE, SECOND } from '@vouchflow/core';
import { createSessions, safeEqual } from '../src/admin/session.js';
import { loadAdminConfig } from '../src/config.js';
import { formatDuration, parseDuration } from '../src/duration.js';
import { filterFrom, parseSince } from '../src/filters.js';

describe('durations', () => {
  it('reads what operators type and writes it back', () => {
    expect(parseDuration('90s')).toBe(90 * SECOND);
    expect(parseDuration('1h30m')).toBe(HOUR + 30 * MINUTE);
    expect(parseDuration('7d')).toBe(7 * 24 * HOUR);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('15')).toBeUndefined();
    expect(formatDuration(HOUR + 30 * MINUTE)).toBe('1h30m');
    expect(formatDuration(15 * MINUTE)).toBe('15m');
  });

  it('takes --since as a duration ago, a date, or epoch milliseconds', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseSince('2h', now)).toBe(now - 2 * HOUR);
    expect(parseSince('2026-11-25T10:00Z', now)).toBe(Date.parse('2026-11-25T10:00Z'));
    expect(parseSince(String(now), now)).toBe(now);
    expect(parseSince('whenever', now)).toBeUndefined();
    expect(filterFrom({ handler: 'crm', since: '1h', limit: '5' }, now)).toEqual({ handler: 'crm', since: now - HOUR, limit: 5 });
    expect(() => filterFrom({ limit: '0' }, now)).toThrow('limit');
    // Intake's dead letters alone: a flag in a query string or a body, or `handler: null` as entries show them.
    expect(filterFrom({ decodeFailures: 'true', eventId: 'evcus_1' }, now)).toEqual({ handler: null, eventId: 'evcus_1' });
    expect(filterFrom({ decodeFailures: true }, now)).toEqual({ handler: null });
    expect(filterFrom({ handler: null }, now)).toEqual({ handler: null });
    expect(filterFrom({ decodeFailures: 'false', handler: 'crm' }, now)).toEqual({ handler: 'crm' });
    expect(() => filterFrom({ decodeFailures: 'true', handler: 'crm' }, now)).toThrow('not both');
    expect(() => filterFrom({ decodeFailures: 'yes' }, now)).toThrow('decodeFailures');
  });
});

describe('admin configuration', () => {
  it('fails closed without a token and names the variable, never the value', () => {
    expect(() => loadAdminConfig({})).toThrow(ConfigError);
    expect(() => loadAdminConfig({})).toThrow('ADMIN_TOKEN: required');
    expect(() => loadAdminConfig({ ADMIN_TOKEN: 'hunter2' })).toThrow(/ADMIN_TOKEN: expected at least 16/);
    expect(() => loadAdminConfig({ ADMIN_TOKEN: 'x'.repeat(32), ALERT_INTERVAL: 'often' })).toThrow('ALERT_INTERVAL');
    expect(() => loadAdminConfig({ ADMIN_TOKEN: 'x'.repeat(32), ALERT_WEBHOOK_URL: 'ftp://x' })).toThrow('ALERT_WEBHOOK_URL');
  });

  it('binds to loopback on 3100 by default and alerts at most every 15 minutes', () => {
    expect(loadAdminConfig({ ADMIN_TOKEN: 'x'.repeat(32) })).toMatchObject({
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: 3100,
      ALERT_INTERVAL: 15 * MINUTE,
      ALERT_WEBHOOK_URL: undefined,
    });
  });
});

describe('dashboard sessions', () => {
  const token = 'a-token-of-enough-length-0123456789';

  it('accepts what it issued until it expires', () => {
    let now = 1_000_000;
    const sessions = createSessions(token, HOUR, () => now);
    const { value, expiresAt } = sessions.issue();
    expect(expiresAt).toBe(now + HOUR);
    expect(value).not.toContain(token);
    expect(sessions.verify(value)).toBe(true);
    now += HOUR;
    expect(sessions.verify(value)).toBe(false);
  });

  it('refuses forgeries: another token, an extended expiry, garbage', () => {
    const sessions = createSessions(token, HOUR);
    const { value } = sessions.issue();
    expect(createSessions(`${token}x`, HOUR).verify(value)).toBe(false);
    const [expires, nonce, mac] = value.split('.');
    expect(sessions.verify(`${Number(expires) + HOUR}.${nonce}.${mac}`)).toBe(false);
    for (const bad of [undefined, '', 'a.b', 'a.b.c', `${expires}.${nonce}.`]) expect(sessions.verify(bad)).toBe(false);
  });

  it('compares secrets of any length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', 'abc')).toBe(false);
  });
});
