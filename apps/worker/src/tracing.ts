import { inSpan, tracingOn, vouchflowTracer } from '@vouchflow/telemetry';

/**
 * One try of a unit of work as a span (handler, attempt, outcome), a child of
 * the job being processed, so every try of a delivery's handlers, inline or
 * from a handler queue, lands in the delivery's trace.
 */
export function traceAttempt<T>(
  handler: string,
  unit: { event: { event: { id: string } }; attempt: number; replay?: boolean },
  run: () => Promise<T>,
): Promise<T> {
  if (!tracingOn()) return run();
  return inSpan(
    vouchflowTracer(),
    `handler ${handler}`,
    {
      attributes: {
        'vouchflow.handler': handler,
        'vouchflow.attempt': unit.attempt,
        'vouchflow.event_id': unit.event.event.id,
        // An operator's replay runs in the original delivery's trace: this tells its tries apart.
        'vouchflow.replay': unit.replay === true,
      },
    },
    async (span) => {
      try {
        const result = await run();
        span.setAttribute('vouchflow.outcome', result && typeof result === 'object' && 'skipped' in result ? 'skipped' : 'done');
        return result;
      } catch (err) {
        span.setAttribute('vouchflow.outcome', (err as { name?: string })?.name === 'RetryLaterError' ? 'retry-later' : 'failed');
        throw err;
      }
    },
  );
}
