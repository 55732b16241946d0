import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeKeptDelivery, encodeKeptDelivery, UnreadableKeptDeliveryError, type KeptDelivery } from '../src/kept-deliveries.js';

const SPEC = resolve(import.meta.dirname, '../../schema/fixtures/spec');
const meta = {
  eventId: 'evcus_1',
  eventType: 'customer.voucher.loyalty_card.points_added',
  receivedAt: 1,
  processedAt: 2,
  intakeJobId: 'ev-evcus_1.abc',
  handlers: ['email', 'crm'],
};

describe('kept deliveries', () => {
  it('give back every spec example byte for byte, at well under half its size', () => {
    let raw = 0;
    let kept = 0;
    for (const file of readdirSync(SPEC).filter((f) => f.endsWith('.json'))) {
      const body = JSON.stringify(JSON.parse(readFileSync(resolve(SPEC, file), 'utf8')));
      const record = encodeKeptDelivery({ ...meta, body });
      expect(decodeKeptDelivery(record)).toEqual({ ...meta, body });
      raw += Buffer.byteLength(body);
      kept += record.length;
    }
    expect(kept / raw).toBeLessThan(0.4);
  });

  it('give back any body and metadata unchanged, newlines and non-ASCII included', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 3000 }),
        fc.string({ maxLength: 40 }),
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }),
        (body, eventId, handlers) => {
          const delivery: KeptDelivery = { ...meta, eventId, handlers, body };
          expect(decodeKeptDelivery(encodeKeptDelivery(delivery))).toEqual(delivery);
        },
      ),
    );
  });

  it('refuse a record of an unknown format or a damaged one, by name', () => {
    const record = encodeKeptDelivery({ ...meta, body: '{"event":{}}' });
    expect(() => decodeKeptDelivery(Buffer.concat([Buffer.from([9]), record.subarray(1)]))).toThrow(UnreadableKeptDeliveryError);
    expect(() => decodeKeptDelivery(Buffer.concat([record.subarray(0, 1), Buffer.from('garbage')]))).toThrow(UnreadableKeptDeliveryError);
  });
});
