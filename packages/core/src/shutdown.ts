import type { Logger } from './logger.js';
import { coerceError } from './coerce-error.js';

export interface ShutdownStep {
  /** Shown in the log, e.g. "stop accepting requests". */
  name: string;
  run: () => unknown;
}

export interface Shutdown {
  /** Runs the steps in order, once; later calls return the same promise. */
  (reason: string): Promise<void>;
  readonly started: boolean;
}

/**
 * Ordered shutdown that can only run once: stop taking new work, let in-flight
 * work finish, then close queues, then Redis. A failing step is logged and the
 * next one still runs, so connections are closed even when draining failed.
 */
export function createShutdown(logger: Logger, steps: ShutdownStep[]): Shutdown {
  let promise: Promise<void> | undefined;
  const run = async (reason: string): Promise<void> => {
    logger.info('shutting down', { reason });
    for (const step of steps) {
      try {
        await step.run();
        logger.debug('shutdown step done', { step: step.name });
      } catch (err) {
        logger.error('shutdown step failed', { step: step.name, error: coerceError(err).message });
      }
    }
    logger.info('shutdown complete');
  };
  const shutdown = ((reason: string) => (promise ??= run(reason))) as Shutdown;
  Object.defineProperty(shutdown, 'started', { get: () => promise !== undefined });
  return shutdown;
}

export interface SignalOptions {
  /** How long the ordered shutdown may take before the process exits anyway. */
  deadlineMs: number;
  /** @defaultValue process.exit */
  exit?: (code: number) => void;
}

/**
 * SIGTERM or SIGINT starts `shutdown`; the process exits 0 when it completes.
 * A second signal, or the deadline passing, forces exit 1.
 */
export function exitOnSignals(shutdown: Shutdown, logger: Logger, { deadlineMs, exit = (c) => process.exit(c) }: SignalOptions): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (shutdown.started) {
      logger.warn('second signal: forcing exit', { signal });
      exit(1);
      return;
    }
    const timer = setTimeout(() => {
      logger.error('shutdown deadline passed: forcing exit', { deadlineMs });
      exit(1);
    }, deadlineMs);
    timer.unref();
    void shutdown(signal).then(() => {
      clearTimeout(timer);
      exit(0);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
