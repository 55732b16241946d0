import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import nodemailer from 'nodemailer';
import { PermanentError } from '@vouchflow/handler-kit';
import { coerceError } from '@vouchflow/core';
import { DownstreamError } from '../http/downstream-error.js';

/** A message ready to go. */
export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** `<…@…>`, derived from the idempotency key, so a resend is recognisably the same message. */
  messageId: string;
  /** Base name of the .eml file in outbox mode. */
  fileName: string;
}

export interface MailSender {
  /** Where messages go, for the start-up log: `smtp` or the outbox path. */
  readonly describe: string;
  /** Resolves once the server accepted the message (or the file is written). */
  send(mail: OutgoingMail, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

interface SmtpError extends Error {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
}

/**
 * 5XX means the server will say the same again (no such mailbox, rejected
 * content): permanent. Except for AUTH, where a 535 means our credentials are
 * wrong; retrying gives an operator time to fix them. 4XX (greylisting, a
 * full mailbox) and connection failures are retried.
 */
function classifySmtpError(thrown: unknown): Error {
  const err = coerceError(thrown) as SmtpError;
  const code = err.responseCode;
  const reply = err.response ?? err.message;
  if (
    code !== undefined &&
    code >= 500 &&
    code !== 503 &&
    err.command !== 'AUTH PLAIN' &&
    err.command !== 'AUTH LOGIN' &&
    err.code !== 'EAUTH'
  ) {
    return new PermanentError(`SMTP server refused the message (${code}${err.command ? ` after ${err.command}` : ''}): ${reply}`, {
      cause: err,
    });
  }
  return new DownstreamError(`SMTP delivery failed${code ? ` (${code})` : ''}: ${reply}`, code, { cause: err });
}

/** The same message whichever sender writes it; Auto-Submitted keeps auto-responders from answering. */
const message = (mail: OutgoingMail) => ({
  from: mail.from,
  to: mail.to,
  subject: mail.subject,
  text: mail.text,
  html: mail.html,
  messageId: mail.messageId,
  headers: { 'Auto-Submitted': 'auto-generated' },
});

/** nodemailer over a pool of SMTP connections (`smtp://…`, `smtps://…`). */
export function createSmtpSender(url: string): MailSender {
  const transport = nodemailer.createTransport({ url, pool: true, maxConnections: 5 });
  return {
    describe: 'smtp',
    async send(mail, signal) {
      try {
        await transport.sendMail({ ...message(mail), signal });
      } catch (err) {
        throw classifySmtpError(err);
      }
    },
    async close() {
      transport.close();
    },
  };
}

/**
 * Writes each message as `<dir>/<fileName>.eml`: what `pnpm start` does with no
 * mail server. The name comes from the idempotency key, so a retry overwrites
 * rather than duplicates.
 */
export function createOutboxSender(dir: string): MailSender {
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  const where = resolve(dir);
  return {
    describe: `outbox ${where}`,
    async send(mail, signal) {
      signal.throwIfAborted();
      const info = await composer.sendMail(message(mail));
      await mkdir(where, { recursive: true });
      await writeFile(join(where, `${mail.fileName}.eml`), info.message as Buffer, { signal });
    },
    async close() {
      composer.close();
    },
  };
}
