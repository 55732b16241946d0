/*
 * Writes the deflate dictionary kept deliveries are compressed with
 * (assets/delivery-dictionary-<n>.txt): the spec's webhook examples,
 * minified, the loyalty and customer events last (deflate reaches the end of
 * a dictionary most cheaply, and those are the deliveries a loyalty programme
 * receives most), cut to the last 16 KiB.
 *
 * A dictionary is frozen once released: records written with it can only be
 * read with it. A new one gets the next number, and kept-deliveries.ts keeps
 * reading the old one for as long as records may carry it.
 *
 *   node --import tsx packages/pipeline/scripts/delivery-dictionary.ts <n>
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DICTIONARY_BYTES = 16 * 1024;
const version = process.argv[2];
if (!version || !/^\d+$/.test(version)) {
  console.error('usage: delivery-dictionary.ts <version number>');
  process.exit(2);
}
const specDir = fileURLToPath(new URL('../../schema/fixtures/spec/', import.meta.url));
const weight = (name: string) => (name.includes('loyalty') ? 2 : name.startsWith('customer.') ? 1 : 0);
const bodies = readdirSync(specDir)
  .filter((f) => f.endsWith('.json'))
  .sort((a, b) => weight(a) - weight(b) || a.localeCompare(b))
  .map((f) => JSON.stringify(JSON.parse(readFileSync(specDir + f, 'utf8'))));
const all = Buffer.from(bodies.join(''), 'utf8');
const out = fileURLToPath(new URL(`../assets/delivery-dictionary-${version}.txt`, import.meta.url));
writeFileSync(out, all.subarray(Math.max(0, all.length - DICTIONARY_BYTES)));
console.log(`wrote ${out}`);
