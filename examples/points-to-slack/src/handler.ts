import { defineHandler } from '@vouchflow/handler-kit';

export interface PointsToSlackOptions {
  /** A Slack incoming-webhook URL (https://hooks.slack.com/services/…). */
  webhookUrl: string;
  /** Smaller additions are skipped. @defaultValue 0 (post every addition) */
  minPoints?: number;
}

/** Slack answers 429 with Retry-After in seconds; wait this long when it does not say. */
const DEFAULT_RETRY_AFTER_MS = 30_000;

/**
 * Posts "cust_… earned 40 points" to a Slack channel. Ids and numbers only:
 * a channel is no place for customers' names or addresses.
 *
 * A factory, so tests can point it at a local server; `index.ts` builds the
 * instance `HANDLERS` loads.
 */
export function createPointsToSlack({ webhookUrl, minPoints = 0 }: PointsToSlackOptions) {
  return defineHandler({
    name: 'points-to-slack',
    events: ['customer.voucher.loyalty_card.points_added', 'voucher.loyalty_card.points_added'],
    timeoutMs: 10_000,
    async handle(event, ctx) {
      // `event` is typed: defineHandler narrowed it to the two events above.
      const { balance, customer, voucher } = event.data;
      if (balance.points < minPoints) return { skipped: `${balance.points} points is below ${minPoints}` };

      const who = customer?.id ?? 'a customer';
      const card = voucher?.code ? ` on card ${voucher.code}` : '';
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `${who} earned ${balance.points} points${card} (balance ${balance.balance}).` }),
        signal: ctx.signal, // aborted on timeout or shutdown
      });

      // Tell the worker what to do next through the error classes on ctx.
      if (response.status === 429) {
        const seconds = Number(response.headers.get('retry-after'));
        throw new ctx.errors.RetryLaterError('Slack rate limit', { delayMs: seconds > 0 ? seconds * 1000 : DEFAULT_RETRY_AFTER_MS });
      }
      if (response.status >= 500) throw new Error(`Slack answered ${response.status}`); // retried with backoff
      if (!response.ok) throw new ctx.errors.PermanentError(`Slack refused the message (${response.status}): ${await response.text()}`);
      ctx.logger.info('posted to slack', { customerId: customer?.id, points: balance.points });
    },
  });
}
