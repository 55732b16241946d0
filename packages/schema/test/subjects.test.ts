import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { subjectsOf } from '../src/index.js';

const specDir = fileURLToPath(new URL('../fixtures/spec/', import.meta.url));
const spec = (name: string) => JSON.parse(readFileSync(specDir + name, 'utf8')) as { data: unknown };

describe('subjectsOf', () => {
  it('reads customer, card and transaction from the spec example of points_added', () => {
    const s = subjectsOf(spec('customer.voucher.loyalty_card.points_added.json'));
    expect(s.customerId).toMatch(/^cust_/);
    expect(s.voucherCode).toEqual(expect.any(String));
    expect(s.transactionId).toEqual(expect.any(String));
    if (s.customerEmail !== null) expect(s.customerEmail).toBe(s.customerEmail.toLowerCase());
  });

  it('falls back to the holder, lower-cases the e-mail, and says null where nothing is sent', () => {
    expect(subjectsOf({ data: { holder: { id: 'cust_1', email: ' Alex@Example.COM ' } } })).toEqual({
      customerId: 'cust_1',
      customerSourceId: null,
      customerEmail: 'alex@example.com',
      voucherCode: null,
      transactionId: null,
    });
    expect(subjectsOf({ data: null }).customerId).toBeNull();
    expect(subjectsOf({ data: { customer: ['x'], voucher: { code: 7 } } }).voucherCode).toBeNull();
  });

  it('finds a customer in every spec example that carries one', () => {
    const withCustomer = readdirSync(specDir).filter((f) => {
      const d = spec(f).data as Record<string, { id?: unknown } | undefined>;
      return typeof d.customer?.id === 'string';
    });
    expect(withCustomer.length).toBeGreaterThan(30);
    for (const f of withCustomer) expect(subjectsOf(spec(f)).customerId, f).not.toBeNull();
  });
});
