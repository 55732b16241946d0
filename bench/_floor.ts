import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { decodeBody } from '../apps/worker/src/deliveries.js';
import { driftOf } from '@vouchflow/schema';
const dict = readFileSync('packages/pipeline/assets/delivery-dictionary-1.txt');
const body = readFileSync('packages/schema/fixtures/points_added.json', 'utf8');
const jobData = JSON.stringify({ body, eventId: 'x', eventType: 'y', receivedAt: 1 });
function t(name: string, f: () => unknown, n = 20000) { for (let i = 0; i < 3000; i++) f(); const s = performance.now(); for (let i = 0; i < n; i++) f(); console.log(name.padEnd(30), ((performance.now() - s) * 1000 / n).toFixed(1), 'us'); }
t('JSON.parse job data', () => JSON.parse(jobData));
t('JSON.parse body', () => JSON.parse(body));
t('decodeBody (parse+io-ts+freeze)', () => decodeBody(body));
const parsed = JSON.parse(body);
t('drift', () => driftOf(parsed));
t('deflate dict l6', () => deflateRawSync(body, { dictionary: dict }));
t('deflate dict l1', () => deflateRawSync(body, { dictionary: dict, level: 1 }));
