import { HandlerTimeoutError } from './errors/handler-timeout-error.js';
import { ShutdownAbortError } from './errors/shutdown-abort-error.js';

/** One handler run's abort machinery, from {@link HandlerRuns.start}. */
export interface HandlerRun {
  readonly signal: AbortSignal;
  /** Rejects when the run is aborted; race the handler against it. */
  readonly aborted: Promise<never>;
  reason(): 'timeout' | 'shutdown' | undefined;
  end(): void;
}

/** The handler runs in progress in this process, inline or from a queue: their timeouts, and their abort at shutdown. */
export class HandlerRuns {
  // Runs in progress, so shutdown can abort the ones outliving the grace period.
  private readonly running = new Set<(why: 'shutdown') => void>();
  // Set when the grace period is over: runs still going are aborted, and so is any that starts.
  private graceOver = false;

  constructor(private readonly graceMs: number) {}

  /**
   * A handler run's abort machinery: one controller (cheaper than
   * AbortSignal.any), made when the handler first reads its signal (many
   * never do), aborted at the timeout or at shutdown; and a promise that
   * rejects then, so the worker moves on even if the handler ignores its signal.
   */
  start(handler: string, timeoutMs: number): HandlerRun {
    const { running, graceMs } = this;
    let controller: AbortController | undefined;
    let why: 'timeout' | 'shutdown' | undefined;
    let error: Error | undefined;
    let fail!: (err: Error) => void;
    const aborted = new Promise<never>((_, reject) => (fail = reject));
    aborted.catch(() => {}); // observed through Promise.race; never unhandled
    const abort = (reason: 'timeout' | 'shutdown') => {
      if (why) return;
      why = reason;
      error = reason === 'timeout' ? new HandlerTimeoutError(handler, timeoutMs) : new ShutdownAbortError(graceMs);
      controller?.abort(error);
      fail(error);
    };
    const timer = setTimeout(() => abort('timeout'), timeoutMs);
    running.add(abort);
    if (this.graceOver) abort('shutdown');
    return {
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (error) controller.abort(error);
        }
        return controller.signal;
      },
      aborted,
      reason: () => why,
      end() {
        clearTimeout(timer);
        running.delete(abort);
      },
    };
  }

  /** The shutdown grace period is over: aborts the runs still going, and any that starts from now on. */
  endGrace(): void {
    this.graceOver = true;
    for (const abort of this.running) abort('shutdown');
  }
}
