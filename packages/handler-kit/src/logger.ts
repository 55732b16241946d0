/** Structured fields of a log line (a plain object): ids, counts, reasons. Never secrets, bodies or personal data. */
export type LogFields = object;

/**
 * What a handler logs through. The kit's own interface rather than a logging
 * library's, so a plugin depends on nothing: the worker hands over a child of
 * its logger, already scoped to the unit of work, that can only write lines
 * (it cannot be closed, reconfigured or have its transports changed).
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * A `Logger` that only forwards to `target`'s four methods: whatever else
 * `target` is (a winston logger with `close()`, `configure()`, transports)
 * stays out of reach, even through a cast.
 */
export function narrowLogger(target: Logger): Logger {
  return Object.freeze({
    debug: (message: string, fields?: LogFields) => void target.debug(message, fields),
    info: (message: string, fields?: LogFields) => void target.info(message, fields),
    warn: (message: string, fields?: LogFields) => void target.warn(message, fields),
    error: (message: string, fields?: LogFields) => void target.error(message, fields),
  });
}
