/*
 * The two plugin handlers `pnpm bench worker` loads into the worker process
 * through HANDLERS, as a user of the compiled worker (`pnpm start:worker`)
 * loads theirs: a JavaScript module, no-op effects subscribed to the seed
 * event, with every setting left at its default (concurrency 10, timeout 30 s).
 */
import { defineHandler } from '@vouchflow/handler-kit';

/** @param {string} name */
const noop = (name) =>
  defineHandler({
    name,
    events: ['customer.voucher.loyalty_card.points_added'],
    async handle() {},
  });

export default [noop('noop-a'), noop('noop-b')];
