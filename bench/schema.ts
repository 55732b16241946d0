/*
 * `pnpm bench schema`: how many seed deliveries per second the worker can
 * decode (JSON.parse + decodeDelivery), against JSON.parse alone measured in
 * the same run, since the worker must parse anyway and the ratio is what
 * survives a change of machine. Drift detection is measured too: the worker
 * runs it per job for its metric. Cases are interleaved over several rounds
 * and the median reported, so a noisy neighbour skews all cases alike.
 * `--round-ms=N` sets a round's length (default 1000), `--rounds=N` their number (default 5).
 */
import { readFileSync } from 'node:fs';
import { decodeDelivery, driftOf } from '@vouchflow/schema';
import { recordRatio } from './_results.js';

// fp-ts is the schema package's dependency, not the root's: read the Either's tag.
const isLeft = (e: { _tag: 'Left' | 'Right' }): e is { _tag: 'Left' } & typeof e => e._tag === 'Left';

const flag = (name: string, fallback: number): number => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = found ? Number(found.split('=')[1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
};
const ROUND_MS = flag('round-ms', 1000);
const ROUNDS = flag('rounds', 5);
const BATCH = 500;

// Voucherify sends compact JSON; the fixture on disk is pretty-printed.
const body = JSON.stringify(JSON.parse(readFileSync(new URL('../packages/schema/fixtures/points_added.json', import.meta.url), 'utf8')));
const check = decodeDelivery(JSON.parse(body));
if (isLeft(check) || !check.right.known) throw new Error('the seed delivery does not decode as a known event');

let sink = 0;
const cases: Record<string, () => void> = {
  'JSON.parse (baseline)': () => {
    sink += (JSON.parse(body) as { id: string }).id.length;
  },
  'JSON.parse + decodeDelivery': () => {
    const decoded = decodeDelivery(JSON.parse(body));
    sink += isLeft(decoded) ? 0 : 1;
  },
  'JSON.parse + decodeDelivery + driftOf': () => {
    const parsed: unknown = JSON.parse(body);
    const decoded = decodeDelivery(parsed);
    sink += (isLeft(decoded) ? 0 : 1) + driftOf(parsed).length;
  },
};

function opsPerSecond(fn: () => void, ms: number): number {
  let ops = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < BATCH; i++) fn();
    ops += BATCH;
    elapsed = process.hrtime.bigint() - start;
  }
  return (ops * 1e9) / Number(elapsed);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

for (const fn of Object.values(cases)) opsPerSecond(fn, Math.min(300, ROUND_MS)); // warm-up: let the JIT settle

const results = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++)
  for (const [name, fn] of Object.entries(cases)) results.get(name)!.push(opsPerSecond(fn, ROUND_MS));

const baseline = median(results.get('JSON.parse (baseline)')!);
console.log(`seed delivery: ${body.length} bytes, ${ROUNDS} rounds of ${ROUND_MS} ms, median`);
for (const [name, samples] of results) {
  const ops = median(samples);
  const ratio = ops / baseline;
  console.log(`${name.padEnd(40)} ${Math.round(ops).toLocaleString('en-US').padStart(10)} /s   ${ratio.toFixed(2)}x baseline`);
  recordRatio({ bench: 'schema', label: name.trim(), ratio });
}
const decode = median(results.get('JSON.parse + decodeDelivery')!);
console.log(`decode costs ${(1e6 / decode - 1e6 / baseline).toFixed(2)} µs per delivery on top of JSON.parse`);
if (sink === 0) console.log(''); // keeps the work observable
