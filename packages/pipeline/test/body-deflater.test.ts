import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { keptDeliveryDictionary, threadDeflater } from '../src/index.js';

const body = readFileSync(new URL('../../schema/fixtures/points_added.json', import.meta.url), 'utf8');
const dictionary = keptDeliveryDictionary();
const inflate = (b: Buffer) => inflateRawSync(b, { dictionary }).toString('utf8');

describe('threadDeflater', () => {
  it('deflates the bodies of one turn on its thread, each back to its own caller, with the kept records’ dictionary', async () => {
    const deflater = threadDeflater(dictionary);
    try {
      const bodies = Array.from({ length: 60 }, (_, i) => body.replace('"id"', `"n${i}":${i},"id"`));
      const out = await Promise.all(bodies.map((b) => deflater.deflate(b)));
      expect(out.map(inflate)).toEqual(bodies);
      // The dictionary is what makes it small: without it the same body deflates to far more.
      expect(out[0]!.length).toBeLessThan(body.length / 3);
    } finally {
      await deflater.close();
    }
  });

  it('answers what it was given before close(), and deflates inline after it', async () => {
    const deflater = threadDeflater(dictionary);
    const pending = [deflater.deflate(body), deflater.deflate(`${body} `)];
    await deflater.close();
    expect((await Promise.all(pending)).map(inflate)).toEqual([body, `${body} `]);
    expect(inflate(await deflater.deflate(body))).toBe(body);
    await deflater.close();
  });
});
