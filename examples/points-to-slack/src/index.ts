import { createPointsToSlack } from './handler.js';

/*
 * What `HANDLERS=./examples/points-to-slack/src/index.ts` loads: the default
 * export is the handler (an array of handlers works too). A plugin reads its
 * own settings once, here, and throws if one is missing; the worker then stops
 * at start naming this module and the message.
 */
const webhookUrl = process.env['SLACK_WEBHOOK_URL'];
if (!webhookUrl) throw new Error('SLACK_WEBHOOK_URL is not set (a Slack incoming-webhook URL)');

const minPoints = Number(process.env['SLACK_MIN_POINTS'] ?? 0);
if (!Number.isInteger(minPoints) || minPoints < 0) throw new Error('SLACK_MIN_POINTS must be a whole number of points, 0 or more');

export default createPointsToSlack({ webhookUrl, minPoints });
