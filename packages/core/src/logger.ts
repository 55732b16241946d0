import winston from 'winston';

export type Logger = winston.Logger;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** @defaultValue 'info' */
  level?: LogLevel;
  /** JSON lines (production, log shippers) or readable lines (a terminal). @defaultValue false */
  json?: boolean;
  /** Added to every line, e.g. `{ app: 'ingress' }`. */
  defaultMeta?: Record<string, unknown>;
  /** Where lines go. @defaultValue stdout */
  stream?: NodeJS.WritableStream;
}

// A value as it is unless it could pass for more than one field (a space, '=' or a quote) or for a line of its
// own (a control character: a newline in a sender's event id must not forge a line): then quoted, escaped.
const PLAIN = /^[^\s="\p{Cc}]*$/u;
const fieldValue = (v: unknown): string => (typeof v === 'string' && PLAIN.test(v) ? v : (JSON.stringify(v) ?? String(v)));

const readable = winston.format.printf((info) => {
  const { level, message, timestamp, app, stack, ...rest } = info as Record<string, unknown>;
  const fields = Object.entries(rest)
    .filter(([k]) => typeof k === 'string')
    .map(([k, v]) => `${k}=${fieldValue(v)}`)
    .join(' ');
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const where = app ? `[${text(app)}] ` : '';
  return `${String(timestamp)} ${String(level)} ${where}${String(message)}${fields ? ` ${fields}` : ''}${stack ? `\n${text(stack)}` : ''}`;
});

/**
 * One winston logger per process. Scope it with `logger.child({ eventId, eventType, handler, jobId, attempt })`;
 * never put secrets, bodies or personal data beyond ids into a line.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', json = false, defaultMeta, stream } = options;
  const format = json
    ? winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.errors({ stack: true }),
        ...(stream === undefined && process.stdout.isTTY ? [winston.format.colorize({ level: true })] : []),
        readable,
      );
  return winston.createLogger({
    level,
    format,
    defaultMeta,
    transports: [stream ? new winston.transports.Stream({ stream }) : new winston.transports.Console()],
  });
}
