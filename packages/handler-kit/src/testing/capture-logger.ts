import type { Logger, LogFields } from '../logger.js';

/** One line a handler logged: `level`, `message` and its fields. */
export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

/**
 * A `Logger` whose lines are kept in memory instead of printed, each with
 * `defaultMeta` (the fields the worker's child logger adds) and its own fields.
 */
export function captureLogger(defaultMeta: LogFields = {}): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (message: string, fields: LogFields = {}): void => {
      // A JSON round trip, as a log shipper sees the line: Errors and Dates become what they print as.
      lines.push(JSON.parse(JSON.stringify({ ...defaultMeta, ...fields, level, message })) as LogLine);
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}
