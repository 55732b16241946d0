import { defineHandlerFactory } from '@vouchflow/handler-kit';
import { createPointsToSlack } from './handler.js';
import { PointsToSlackSettings } from './settings.js';

/*
 * What `HANDLERS=./examples/points-to-slack/src/index.ts` loads: a factory.
 * The worker reads HANDLER_POINTS_TO_SLACK_* from its environment, decodes
 * them with `PointsToSlackSettings`, and calls `create` with the result and a
 * logger scoped to this handler. The plugin never reads process.env itself.
 */
export default defineHandlerFactory({
  name: 'points-to-slack',
  settings: PointsToSlackSettings,
  create: ({ settings, logger }) => {
    logger.info('posting points to slack', { minPoints: settings.MIN_POINTS ?? 0 });
    return createPointsToSlack({ webhookUrl: settings.WEBHOOK_URL, minPoints: settings.MIN_POINTS ?? 0 });
  },
});

export { PointsToSlackSettings };
