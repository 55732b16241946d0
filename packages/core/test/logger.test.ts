/*
 * The readable (development) log format: one line per entry, whatever the
 * values hold. Values come from senders too (an event id is theirs), and a
 * newline in one must not start a line that looks like the logger's own.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@vouchflow/core';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  return { lines, logger: createLogger({ stream, level: 'debug' }) };
}

describe('readable log lines', () => {
  it('keep plain values as they are, and quote a value with spaces, quotes, = or control characters', async () => {
    const { lines, logger } = capture();
    logger.info('event handled', {
      eventId: 'evcus_0e6d44043e9e51d3aa',
      forged: 'x\n01:00:00.000 info [worker] shutdown complete',
      spaced: 'a b',
      pair: 'a=b',
      lone: 'evcus_\ud800',
      count: 3,
      nothing: undefined,
    });
    logger.end();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(' eventId=evcus_0e6d44043e9e51d3aa ');
    expect(lines[0]).toContain(' forged="x\\n01:00:00.000 info [worker] shutdown complete" ');
    // A lone surrogate cannot forge anything: it reaches the stream as U+FFFD.
    expect(lines[0]).toContain(' spaced="a b" pair="a=b" lone=evcus_\ufffd count=3');
  });
});
