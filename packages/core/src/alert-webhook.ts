import { SECOND } from './durations.js';

/**
 * Posts one message to a Slack-compatible incoming webhook (`{"text": …}`,
 * ALERT_WEBHOOK_URL). Rejects when it is not delivered (network, timeout, a
 * non-2XX answer): whether to retry is the caller's choice.
 */
export async function postAlert(webhookUrl: string, text: string, timeoutMs = 10 * SECOND): Promise<void> {
  const res = await fetch(webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`webhook answered ${res.status}`);
}
