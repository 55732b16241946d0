import { createHash } from 'node:crypto';
import { defineHandler, type Handler } from '@vouchflow/handler-kit';
import { SECOND } from '@vouchflow/core';
import { EMAIL_EVENT_NAMES } from '../event-names.js';
import { loyaltyFacts, type LoyaltyFacts } from '../loyalty-facts.js';
import { ADDRESS_REFUSALS, plainAddress, type AddressRefusal } from './address.js';
import type { CustomerLookup } from './customer-lookup.js';
import type { MailSender } from './mail-sender.js';
import { render, type TemplateKind, type TemplateSet, type TemplateValues } from './templates.js';

export interface EmailHandlerOptions {
  /** The From header. @defaultValue Loyalty <loyalty@example.com> (EMAIL_FROM) */
  from: string;
  /** SMTP or the outbox. */
  sender: MailSender;
  /** Finds an address when the event has none. */
  lookup: CustomerLookup;
  templates: TemplateSet;
  /** @defaultValue 'email' */
  name?: string;
  /** Told of every skipped message with a short reason (`vouchflow_email_skipped_total{reason}`). */
  onSkipped?: (reason: EmailSkipReason) => void;
}

/** Why a message was not sent: an address refused by the address rule, or none at all. */
export type EmailSkipReason = AddressRefusal | 'no_address';

/** `customer.voucher.loyalty_card.pending_points.added` → `pending_points_added`. */
export function templateKindOf(eventType: string): TemplateKind | undefined {
  const name = eventType.replace(/^customer\./, '').replace(/^voucher\.loyalty_card\./, '');
  switch (name) {
    case 'points_added':
    case 'points_expired':
      return name;
    case 'pending_points.added':
      return 'pending_points_added';
    case 'pending_points.activated':
      return 'pending_points_activated';
    default:
      return undefined;
  }
}

const text = (n: number | undefined) => (n === undefined ? undefined : String(n));

function valuesOf(facts: LoyaltyFacts): TemplateValues {
  return {
    customer_name: facts.customerName ?? 'there',
    points: text(facts.pointsChange === undefined ? undefined : Math.abs(facts.pointsChange)),
    balance: text(facts.balance),
    total: text(facts.total),
    reason: facts.reason,
    card_code: facts.cardCode,
    campaign: facts.campaignName,
    expired_points: text(facts.expiredPoints),
    pending_points: text(facts.pendingPoints),
    activates_at: facts.pendingActivatesAt,
  };
}

/** The domain of the From address, so Message-IDs look like the sender's own. */
const domainOf = (from: string): string => /@([A-Za-z0-9.-]+)/.exec(from)?.[1] ?? 'vouchflow.invalid';

/**
 * Mails the customer about points added, expired, pending and activated.
 * One message per business fact: the Message-ID and the outbox file name come
 * from the idempotency key, which the worker derives from the transaction.
 */
export function createEmailHandler(options: EmailHandlerOptions): Handler<(typeof EMAIL_EVENT_NAMES)[number]> {
  const domain = domainOf(options.from);
  return defineHandler({
    name: options.name ?? 'email',
    events: EMAIL_EVENT_NAMES,
    timeoutMs: 30 * SECOND,
    concurrency: 5,
    async handle(event, ctx) {
      const kind = templateKindOf(event.event.type);
      if (!kind) return { skipped: `no template for ${event.event.type}` };
      const facts = loyaltyFacts(event);
      // The worker logs every skip with its reason at info; this adds the customer id for debugging.
      const skip = (label: EmailSkipReason, reason: string, customerId?: string) => {
        options.onSkipped?.(label);
        ctx.logger.debug('email skipped', { customerId, reason });
        return { skipped: reason };
      };

      let candidate = facts.customerEmail;
      let source = 'event';
      if (!candidate) {
        if (!facts.customerId) return skip('no_address', 'the event carries neither an e-mail address nor a customer id');
        const found = await options.lookup(facts.customerId, ctx.signal);
        if (found.email === undefined) return skip('no_address', found.reason, facts.customerId);
        candidate = found.email;
        source = 'Voucherify API';
      }
      // Whoever can set their own address (a sign-up form) must not be able to add recipients or headers.
      const checked = plainAddress(candidate);
      if (checked.refused !== undefined) {
        ctx.logger.warn('email address refused: not sent', { customerId: facts.customerId, reason: checked.refused, source });
        return skip(checked.refused, `${ADDRESS_REFUSALS[checked.refused]} (from the ${source}); not sent`, facts.customerId);
      }
      const to = checked.address;

      const values = valuesOf(facts);
      const template = options.templates[kind];
      const hash = createHash('sha256').update(ctx.idempotencyKey).digest('hex');
      const messageId = `<${hash.slice(0, 32)}@${domain}>`;
      await options.sender.send(
        {
          from: options.from,
          to,
          subject: render(template.subject, values, 'subject'),
          text: render(template.text, values, 'text'),
          html: render(template.html, values, 'html'),
          messageId,
          fileName: ctx.idempotencyKey.replace(/[^A-Za-z0-9_.-]/g, '_'),
        },
        ctx.signal,
      );
      ctx.logger.info('email sent', { customerId: facts.customerId, template: kind, messageId, via: options.sender.describe });
    },
  });
}
