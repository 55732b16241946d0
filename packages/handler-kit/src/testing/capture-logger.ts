import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@vouchflow/core';

/** One line a handler logged, as JSON fields: `level`, `message` and its metadata. */
export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** A real winston logger whose lines are kept in memory instead of printed. */
export function captureLogger(defaultMeta: Record<string, unknown> = {}): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim()) lines.push(JSON.parse(text) as LogLine);
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', json: true, defaultMeta, stream }), lines };
}
