/*
 * Who and what a delivery is about, as support asks: "Alex says the e-mail
 * never came" starts from a customer id, a source id, an e-mail address, a
 * card code or a transaction id, not from an event id. Read from any event,
 * known or not, by the fields Voucherify's webhooks share: `data.customer`
 * (else `data.holder`), `data.voucher.code` and `data.transaction.id`.
 */

/** What a delivery is about; null where it does not say. */
export interface EventSubjects {
  customerId: string | null;
  customerSourceId: string | null;
  /** Lower-cased and trimmed, so a search matches whatever case support types. */
  customerEmail: string | null;
  voucherCode: string | null;
  transactionId: string | null;
}

const objectAt = (value: unknown, key: string): Record<string, unknown> | undefined => {
  if (typeof value !== 'object' || value === null) return undefined;
  const child = (value as Record<string, unknown>)[key];
  return typeof child === 'object' && child !== null && !Array.isArray(child) ? (child as Record<string, unknown>) : undefined;
};

const stringAt = (value: Record<string, unknown> | undefined, key: string): string | null => {
  const s = value?.[key];
  return typeof s === 'string' && s.trim() !== '' ? s : null;
};

/** Normalises an e-mail address the way the index stores it. */
export const normaliseEmail = (email: string): string => email.trim().toLowerCase();

export function subjectsOf(delivery: { data: unknown }): EventSubjects {
  const { data } = delivery;
  const customer = objectAt(data, 'customer') ?? objectAt(data, 'holder');
  const email = stringAt(customer, 'email');
  return {
    customerId: stringAt(customer, 'id'),
    customerSourceId: stringAt(customer, 'source_id'),
    customerEmail: email === null ? null : normaliseEmail(email),
    voucherCode: stringAt(objectAt(data, 'voucher'), 'code'),
    transactionId: stringAt(objectAt(data, 'transaction'), 'id'),
  };
}
