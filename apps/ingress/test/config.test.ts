import { describe, expect, it } from 'vitest';
import { ConfigError, HOUR, SECOND } from '@vouchflow/core';
import { eventIdSegment, intakeCopyJobId, intakeJobId } from '@vouchflow/pipeline';
import { loadIngressConfig } from '../src/config.js';
import { isJsonMediaType, routingFields } from '../src/routing-fields.js';

describe('ingress configuration', () => {
  it('fails closed without a secret, naming the variable, unless unsigned delivery is explicitly allowed', () => {
    expect(() => loadIngressConfig({})).toThrow(ConfigError);
    expect(() => loadIngressConfig({})).toThrow(/VOUCHERIFY_WEBHOOK_SECRET/);
    expect(loadIngressConfig({ WEBHOOK_ALLOW_UNSIGNED: 'true' }).secrets).toEqual([]);
  });

  it('has production defaults', () => {
    const config = loadIngressConfig({ VOUCHERIFY_WEBHOOK_SECRET: 'a, b' });
    expect(config).toMatchObject({
      secrets: ['a', 'b'],
      allowUnsigned: false,
      bodyLimitBytes: 1024 * 1024,
      dedupWindowMs: 72 * HOUR,
      maxBacklog: 100_000,
      backlogCheckMs: SECOND,
      enqueueTimeoutMs: SECOND,
      enqueueBatchMax: 32,
      shutdownTimeoutMs: 8 * SECOND,
    });
  });

  it('reads sizes and durations, and names every bad variable without echoing secrets', () => {
    const config = loadIngressConfig({ VOUCHERIFY_WEBHOOK_SECRET: 's', BODY_LIMIT: '512kb', DEDUP_WINDOW_HOURS: '96', MAX_BACKLOG: '10' });
    expect(config.bodyLimitBytes).toBe(512 * 1024);
    expect(config.dedupWindowMs).toBe(96 * HOUR);
    expect(loadIngressConfig({ VOUCHERIFY_WEBHOOK_SECRET: 's', BODY_LIMIT: '2048' }).bodyLimitBytes).toBe(2048);
    let error: unknown;
    try {
      loadIngressConfig({ VOUCHERIFY_WEBHOOK_SECRET: 's', BODY_LIMIT: 'huge', ENQUEUE_TIMEOUT_MS: '20000', DEDUP_WINDOW_HOURS: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/BODY_LIMIT/);
    expect(problems).toMatch(/ENQUEUE_TIMEOUT_MS/);
    expect(problems).toMatch(/DEDUP_WINDOW_HOURS/);
  });
});

describe('what the ingress reads from a request', () => {
  it('accepts JSON media types only', () => {
    expect(isJsonMediaType('application/json')).toBe(true);
    expect(isJsonMediaType('Application/JSON; charset=utf-8')).toBe(true);
    expect(isJsonMediaType('application/problem+json')).toBe(true);
    expect(isJsonMediaType('text/json')).toBe(false);
    expect(isJsonMediaType('application/x-www-form-urlencoded')).toBe(false);
    expect(isJsonMediaType(undefined)).toBe(false);
  });

  it('reads event.id and event.type and nothing else', () => {
    expect(routingFields({ event: { id: 'evcus_1', type: 't' }, data: 'anything' })).toEqual({ eventId: 'evcus_1', eventType: 't' });
    expect(routingFields(null)).toBe('body is not a JSON object');
    expect(routingFields({ event: [] })).toBe('event is missing or not an object');
    expect(routingFields({ event: { id: '', type: 't' } })).toBe('event.id is missing or not a non-empty string');
  });
});

describe('job ids derived from event ids', () => {
  it('leaves Voucherify ids alone and makes any other id safe and distinct', () => {
    expect(eventIdSegment('evcus_0e16e42bc6e0c65b57')).toBe('evcus_0e16e42bc6e0c65b57');
    expect(intakeJobId('a:b')).toBe('ev-a%003ab');
    expect(intakeJobId('123')).toBe('ev-123');
    expect(eventIdSegment('%003a')).not.toBe(eventIdSegment(':'));
    expect(eventIdSegment('\ud800')).toBe('%d800');
    const long = 'x'.repeat(500);
    expect(eventIdSegment(long)).toMatch(/^%h[0-9a-f]{64}$/);
    expect(eventIdSegment(`${long}y`)).not.toBe(eventIdSegment(long));
    expect(intakeCopyJobId('a:b', 'n1')).toBe('ev-a%003ab.n1');
    expect(intakeCopyJobId('a', 'n1')).not.toContain(':');
  });
});
