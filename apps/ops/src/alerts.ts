import { SECOND, coerceError, postAlert, projectKey, type Logger, type RedisClient } from '@vouchflow/core';
import type { DeadLetter, DeadLetterStore } from '@vouchflow/pipeline';
import { formatDuration } from './duration.js';

export interface AlerterDeps {
  connection: RedisClient;
  queuePrefix: string;
  deadLetters: Pick<DeadLetterStore, 'list' | 'count'>;
  /** Slack-compatible incoming webhook: receives `{"text": …}`. */
  webhookUrl: string;
  /** At most one alert per this long, across every admin process of the deployment. */
  intervalMs: number;
  logger: Logger;
  /** How often to look for new dead letters. @defaultValue the smaller of intervalMs and 30 seconds */
  pollMs?: number;
  /** @defaultValue 10 seconds */
  requestTimeoutMs?: number;
  /** @defaultValue Date.now */
  now?: () => number;
}

export interface Alerter {
  /** One round: sends an alert when there are unreported dead letters and the interval allows. Resolves true when it sent one. */
  check(): Promise<boolean>;
  /** Checks every `pollMs` until `stop()`. */
  start(): void;
  /** Stops polling and waits for a round in progress. */
  stop(): Promise<void>;
}

const MAX_LISTED = 10_000;

/** The message: how many, where, and the command to look closer. */
export function alertText(queuePrefix: string, fresh: readonly DeadLetter[], total: number, since: number): string {
  const byHandler = new Map<string, number>();
  for (const d of fresh)
    byHandler.set(d.handler ?? 'intake (did not decode)', (byHandler.get(d.handler ?? 'intake (did not decode)') ?? 0) + 1);
  const parts = [...byHandler.entries()].sort((a, b) => b[1] - a[1]).map(([h, n]) => `${h}: ${n}`);
  const newest = fresh[0];
  const sinceText = since > 0 ? ` since ${new Date(since).toISOString()}` : '';
  return [
    `:rotating_light: vouchflow (${queuePrefix}): ${fresh.length} new dead letter${fresh.length === 1 ? '' : 's'}${sinceText} (${parts.join(', ')}); ${total} in total.`,
    newest
      ? `Latest: ${newest.eventType} ${newest.eventId} → ${newest.handler ?? 'intake'}: ${newest.reason.split('\n')[0]?.slice(0, 200)}`
      : '',
    'Inspect with `pnpm ops dlq list`, send back with `pnpm ops dlq retry --all`.',
  ]
    .filter(Boolean)
    .join('\n');
}

/**
 * Tells a chat channel when dead letters appear. Two keys in Redis make it
 * behave across restarts and several admin processes: `seen` (the newest
 * failure time already reported) and `gate` (set for `intervalMs` when an
 * alert goes out, with SET NX, so only one process sends per interval).
 * Dead letters arriving while the gate is shut are summed into the next alert.
 */
export function createAlerter(deps: AlerterDeps): Alerter {
  const { connection, queuePrefix, deadLetters, webhookUrl, intervalMs, logger } = deps;
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? Math.min(intervalMs, 30 * SECOND);
  const seenKey = projectKey(queuePrefix, 'ops', 'alert', 'seen');
  const gateKey = projectKey(queuePrefix, 'ops', 'alert', 'gate');
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();

  async function check(): Promise<boolean> {
    if ((await connection.pttl(gateKey)) > 0) return false;
    const seen = Number((await connection.get(seenKey)) ?? 0);
    if ((await deadLetters.count({ since: seen + 1 })) === 0) return false;
    if ((await connection.set(gateKey, String(now()), 'PX', intervalMs, 'NX')) !== 'OK') return false;
    const fresh = await deadLetters.list({ since: seen + 1, limit: MAX_LISTED });
    const total = await deadLetters.count();
    const text = alertText(queuePrefix, fresh, total, seen);
    try {
      await postAlert(webhookUrl, text, deps.requestTimeoutMs ?? 10 * SECOND);
    } catch (err) {
      // Open the gate again so the next round retries, rather than staying silent for a whole interval.
      await connection.del(gateKey);
      logger.warn('dead-letter alert not delivered', { error: coerceError(err).message });
      return false;
    }
    const newest = fresh.reduce((max, d) => Math.max(max, d.lastFailedAt), seen);
    await connection.set(seenKey, String(newest));
    logger.info('dead-letter alert sent', { fresh: fresh.length, total, nextAlertAfter: formatDuration(intervalMs) });
    return true;
  }

  let busy = false;
  const round = () => {
    // A slow webhook must not stack rounds on top of each other.
    if (busy) return;
    busy = true;
    running = check()
      .catch((err: unknown) => logger.warn('dead-letter alert check failed', { error: coerceError(err).message }))
      .finally(() => (busy = false));
  };

  return {
    check,
    start() {
      if (timer) return;
      round();
      timer = setInterval(round, pollMs);
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
