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

/** At most this many handlers get their own command in an alert. */
const MAX_COMMANDS = 3;

/**
 * What to run next, per handler with fresh dead letters, most first: a retry
 * filtered to what a retry can help (`--retryable-only`), never a bare
 * `--all` that would send permanent failures back to die again; and where
 * the failures for good are, to look at before anything is retried.
 */
function nextSteps(fresh: readonly DeadLetter[]): string[] {
  const by = new Map<string | null, { retryable: number; permanent: number }>();
  for (const d of fresh) {
    const n = by.get(d.handler) ?? { retryable: 0, permanent: 0 };
    if (d.permanent) n.permanent++;
    else n.retryable++;
    by.set(d.handler, n);
  }
  const ranked = [...by.entries()].sort((a, b) => b[1].retryable + b[1].permanent - (a[1].retryable + a[1].permanent));
  const steps: string[] = [];
  for (const [handler, n] of ranked.slice(0, MAX_COMMANDS)) {
    const which = handler === null ? '--decode-failures' : `--handler ${handler}`;
    if (n.retryable > 0) steps.push(`Send back what can succeed: \`pnpm ops dlq retry --all ${which} --retryable-only\` (${n.retryable}).`);
    if (n.permanent > 0)
      steps.push(
        `${n.permanent} failed for good (${handler === null ? 'did not decode' : 'PermanentError'}): fix the cause first, see \`pnpm ops dlq list ${which}\`.`,
      );
  }
  if (ranked.length > MAX_COMMANDS)
    steps.push(`${ranked.length - MAX_COMMANDS} more queues have new dead letters: see \`pnpm ops dlq list\`.`);
  return steps;
}

/** The message: how many, where, and the commands to look closer and to retry what a retry can help. */
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
    'Inspect with `pnpm ops dlq list`.',
    ...nextSteps(fresh),
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
