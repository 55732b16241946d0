import { createPointsToSlack } from './handler.js';

/*
 * What `HANDLERS=./examples/points-to-slack/src/index.ts` loads: the default
 * export is the handler (an array of handlers works too). A plugin reads its
 * own settings once, here, and throws if one is missing; the worker then stops
 * at start naming this module and the message.
 */
const webhookUrl = process.env['SLACK_WEBHOOK_URL'];
if (!webhookUrl) throw new Error('SLACK_WEBHOOK_URL is not set (a Slack incoming-webhook URL)');

export default createPointsToSlack({ webhookUrl, minPoints: Number(process.env['SLACK_MIN_POINTS'] ?? 0) });
