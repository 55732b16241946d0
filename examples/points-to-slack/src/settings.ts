import * as t from 'io-ts';

/** A whole number of 0 or more, written as text (as environment variables are). */
const WholeNumberFromString = new t.Type<number, string, unknown>(
  'a whole number of 0 or more',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 0,
  (u, c) => {
    const n = typeof u === 'string' && /^\d+$/.test(u.trim()) ? Number(u) : NaN;
    return Number.isSafeInteger(n) ? t.success(n) : t.failure(u, c);
  },
  String,
);

/** An http(s) URL. */
const HttpUrl = new t.Type<string, string, unknown>(
  'an http(s) URL',
  (u): u is string => typeof u === 'string',
  (u, c) => {
    try {
      return typeof u === 'string' && /^https?:$/.test(new URL(u).protocol) ? t.success(u) : t.failure(u, c);
    } catch {
      return t.failure(u, c);
    }
  },
  t.identity,
);

/**
 * The plugin's settings, which the worker reads from `HANDLER_POINTS_TO_SLACK_*`
 * (`HANDLER_POINTS_TO_SLACK_WEBHOOK_URL`, `…_MIN_POINTS`) and decodes with
 * this codec before calling the factory; a bad value stops the worker at start,
 * naming the variable.
 */
export const PointsToSlackSettings = t.intersection([
  t.type({
    /** A Slack incoming-webhook URL (https://hooks.slack.com/services/…). */
    WEBHOOK_URL: HttpUrl,
  }),
  t.partial({
    /** Smaller additions are skipped. Unset: every addition is posted. */
    MIN_POINTS: WholeNumberFromString,
  }),
]);
export type PointsToSlackSettings = t.TypeOf<typeof PointsToSlackSettings>;
