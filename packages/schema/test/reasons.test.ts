import { isLeft } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeDelivery } from '../src/index.js';
import { delivery as fixture } from './fixtures.js';

/*
 * Decode-failure reasons go to logs, dead-letter lists and Slack alerts: they
 * name paths and expected kinds, never a value from the payload.
 */

const reasonOf = (input: unknown): string => {
  const result = decodeDelivery(input);
  if (!isLeft(result)) throw new Error('expected the delivery not to decode');
  return result.left.message;
};

describe('decode-failure reasons', () => {
  it('do not quote an e-mail address or a name put where a number or an object belongs', () => {
    const d = fixture('points_added');
    d.data.balance.points = 'alex.private@example.com';
    d.data.customer = 'Alex Private-Person';
    const reason = reasonOf(d);
    expect(reason).toContain('data.balance.points: expected number, got a string');
    expect(reason).toMatch(/data\.customer: expected .*, got a string/);
    expect(reason).not.toContain('alex.private');
    expect(reason).not.toContain('Private-Person');
  });

  it('never contain a generated value, wherever it is put', () => {
    const paths: Array<(d: ReturnType<typeof fixture>, v: unknown) => void> = [
      (d, v) => (d.data.balance.points = v),
      (d, v) => (d.data.customer.id = v),
      (d, v) => (d.data.transaction.voucher_id = v),
      (d, v) => (d.data.balance.type = v),
      (d, v) => (d.event.id = v),
      (d, v) => (d.data.balance = v),
    ];
    // Values long and odd enough not to occur in a reason's own words.
    const secret = fc.string({ minLength: 6, maxLength: 30 }).map((s) => `Zq${s}Zq`);
    const value = fc.oneof(
      secret,
      secret.map((s) => ({ name: s })),
      secret.map((s) => [s]),
      fc.integer({ min: 10_000_000, max: 2_000_000_000 }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: paths.length - 1 }), value, (at, v) => {
        const d = fixture('points_added');
        paths[at]!(d, v);
        const result = decodeDelivery(d);
        // A value of the right kind decodes; only failures have reasons.
        fc.pre(isLeft(result));
        const reason = isLeft(result) ? result.left.message : '';
        const needle = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v).replace(/^\W+|\W+$/g, '');
        expect(reason).not.toContain(needle);
      }),
      { numRuns: 300 },
    );
  });
});
