import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactJsonWhitespace, signBody, verifySignature } from '../src/index.js';

describe('signature', () => {
  it('matches the known vectors', () => {
    expect(signBody('{"test":"test1"}', 'secret-signature-key')).toBe('5547d4d07430a2d1b77649564c68d80afe591f7cc61ca110bccb442e3205eeec');
    expect(signBody('{"a":1}', 'secretKey')).toBe('a17d2ac229d1ebbb5f10e839c7985c4818e5986eab297f7e5979196d4d7d3ed2');
    expect(verifySignature(Buffer.from('{"a":1}'), 'a17d2ac229d1ebbb5f10e839c7985c4818e5986eab297f7e5979196d4d7d3ed2', ['secretKey'])).toBe(
      true,
    );
  });

  it('verifies a pretty-printed body against its compact signature', () => {
    const pretty = readFileSync(resolve(import.meta.dirname, '../fixtures/points_added.json'));
    const compact = JSON.stringify(JSON.parse(pretty.toString()));
    expect(pretty.toString()).not.toBe(compact);
    expect(verifySignature(pretty, signBody(compact, 'k'), ['k'])).toBe(true);
  });

  it('does not remove whitespace inside strings', () => {
    const body = Buffer.from('{ "reason": "Spring time", "q": "a \\" b" }');
    expect(compactJsonWhitespace(body).toString()).toBe('{"reason":"Spring time","q":"a \\" b"}');
    const changed = Buffer.from('{ "reason": "Spring  time", "q": "a \\" b" }');
    expect(verifySignature(changed, signBody('{"reason":"Spring time","q":"a \\" b"}', 'k'), ['k'])).toBe(false);
  });

  it('accepts any secret of a rotation and refuses wrong, missing or malformed signatures', () => {
    const body = Buffer.from('{"a":1}');
    expect(verifySignature(body, signBody(body, 'new'), ['old', 'new'])).toBe(true);
    expect(verifySignature(body, signBody(body, 'other'), ['old', 'new'])).toBe(false);
    expect(verifySignature(body, undefined, ['old'])).toBe(false);
    expect(verifySignature(body, 'zz', ['old'])).toBe(false);
    expect(verifySignature(body, signBody(body, 'old').toUpperCase(), ['old'])).toBe(true);
    expect(verifySignature(body, signBody(body, 'old'), [])).toBe(false);
  });
});

describe('signature, for any JSON', () => {
  it('verifies a pretty-printed body against the signature of its compact form', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(2, 4, '\t'), (value, indent) => {
        const compact = JSON.stringify(value);
        const pretty = Buffer.from(JSON.stringify(value, null, indent));
        expect(compactJsonWhitespace(pretty).toString()).toBe(compact);
        expect(verifySignature(pretty, signBody(compact, 'k'), ['k'])).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('verifies the raw bytes first, whatever their whitespace', () => {
    const raw = readFileSync(resolve(import.meta.dirname, '../fixtures/points_expired.json'));
    expect(verifySignature(raw, signBody(raw, 'k'), ['k'])).toBe(true);
    expect(verifySignature(raw, ` ${signBody(raw, 'k')}\t`, ['k'])).toBe(true);
  });

  it('fails when any string changes, spaces included', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (text) => {
        const signed = JSON.stringify({ reason: text });
        const changed = Buffer.from(JSON.stringify({ reason: `${text} ` }));
        expect(verifySignature(changed, signBody(signed, 'k'), ['k'])).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
