/*
 * `pnpm sample`: signs a delivery the way Voucherify does and posts it to the
 * ingress, printing the answer. By default it sends the seed event
 * (customer.voucher.loyalty_card.points_added) with a fresh event id, so every
 * run is new rather than a duplicate.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { signBody, SIGNATURE_HEADER } from '@vouchflow/schema';
import { ROOT, devSecret, loadEnv } from './dev-env.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    file: { type: 'string', default: join(ROOT, 'packages/schema/fixtures/points_added.json') },
    'same-id': { type: 'boolean', default: false },
    customer: { type: 'string' },
    'source-id': { type: 'string' },
    email: { type: 'string' },
    count: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`Usage: pnpm sample [--url URL] [--file delivery.json] [--same-id] [--customer ID] [--source-id ID] [--email ADDRESS] [--count N]

Signs a delivery with VOUCHERIFY_WEBHOOK_SECRET (or the development secret
that \`pnpm start\` created) and posts it to the ingress.

  --url      where to post   (default http://127.0.0.1:$PORT/webhooks/voucherify)
  --file     the delivery    (default the points_added fixture)
  --same-id    keep the file's event and transaction ids (shows duplicate handling)
  --customer   the customer's id in data.customer (and as the card's holder)
  --source-id  the customer's source id
  --email      the customer's e-mail address (the email handler mails it)
  --count      send this many, each a new event (default 1)`);
  process.exit(0);
}

const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) {
  console.error(`--count: expected a whole number of at least 1, got ${values.count}`);
  process.exit(2);
}
if (values['same-id'] && count > 1) {
  console.error('--same-id with --count: every copy would be the same event; send one, or drop --same-id');
  process.exit(2);
}

const env = loadEnv();
const secret = env['VOUCHERIFY_WEBHOOK_SECRET']?.split(',')[0]?.trim() || devSecret(false);
if (!secret) {
  console.error('No secret: set VOUCHERIFY_WEBHOOK_SECRET, or run `pnpm start` once to create the development secret.');
  process.exit(2);
}
interface Delivery {
  event: { id: string };
  data?: {
    transaction?: { id?: string } | null;
    customer?: Record<string, unknown> | null;
    voucher?: { holder_id?: string } | null;
  };
}
const template = JSON.parse(readFileSync(values.file, 'utf8')) as Delivery;

function nextDelivery(): Delivery {
  const delivery = structuredClone(template);
  if (!values['same-id']) {
    // A new event about a new business fact: handlers do their effect once per
    // transaction, so a fresh event id alone would be skipped as a twin.
    const suffix = randomBytes(8).toString('hex');
    delivery.event.id = `evcus_sample_${suffix}`;
    if (delivery.data?.transaction?.id) delivery.data.transaction.id = `vtx_sample_${suffix}`;
  }
  const customer = delivery.data?.customer;
  if (customer) {
    if (values.customer !== undefined) customer['id'] = values.customer;
    if (values['source-id'] !== undefined) customer['source_id'] = values['source-id'];
    if (values.email !== undefined) customer['email'] = values.email;
  }
  if (values.customer !== undefined && delivery.data?.voucher?.holder_id) delivery.data.voucher.holder_id = values.customer;
  return delivery;
}

const url = values.url ?? `http://127.0.0.1:${env['PORT'] ?? '3000'}/webhooks/voucherify`;
let failed = 0;
for (let i = 0; i < count; i++) {
  const delivery = nextDelivery();
  // Compact JSON, as Voucherify's SDKs sign it.
  const body = JSON.stringify(delivery);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(body, secret) },
      body,
    });
    console.log(`${res.status} ${await res.text()}`);
    if (!res.ok) failed++;
  } catch (err) {
    console.error(`Could not reach ${url}: ${(err as Error).message}. Is \`pnpm start\` running?`);
    process.exit(1);
  }
}
process.exit(failed > 0 ? 1 : 0);
