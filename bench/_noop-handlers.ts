/*
 * Two plugin handlers that do nothing, loaded by the benches through
 * `HANDLERS=./bench/_noop-handlers.ts` exactly as a user loads a plugin, with
 * the handler kit's defaults (no concurrency or rate limit of their own).
 */
import { defineHandler } from '@vouchflow/handler-kit';

const SEED_EVENT = 'customer.voucher.loyalty_card.points_added';

export default [
  defineHandler({ name: 'noop-a', events: [SEED_EVENT], async handle() {} }),
  defineHandler({ name: 'noop-b', events: [SEED_EVENT], async handle() {} }),
];
