import { defineHandler } from '@vouchflow/handler-kit';

/**
 * Writes one line per loyalty event: the audit trail a newcomer sees first,
 * and proof that deliveries reach handlers. Ids and numbers only, no personal data.
 */
export const logHandler = defineHandler({
  name: 'log',
  events: ['*'],
  async handle(event, ctx) {
    const data = event.data as { balance?: { points?: number; balance?: number }; customer?: { id?: string } | null };
    ctx.logger.info('event handled', {
      customerId: data.customer?.id,
      points: data.balance?.points,
      balance: data.balance?.balance,
      occurredAt: ctx.occurredAt.toISOString(),
    });
  },
});
