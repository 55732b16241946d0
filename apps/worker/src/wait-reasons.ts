/**
 * Why a unit waits, as `pnpm ops events show` prints it (the handler job's
 * `waitReason`). A RetryLaterError's own message is used as it is.
 */
export const WAIT_REASONS = {
  busy: 'another run of the same business fact holds its claim',
  aborted: 'interrupted by a shutdown: runs again without spending a try',
  afterFailure: (error: string): string => `retry after failure: ${error}`,
} as const;
