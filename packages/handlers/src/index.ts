import type { AnyHandler } from '@vouchflow/handler-kit';
import { logHandler } from './log.js';

export { logHandler };

/** Built-in handlers by the name `HANDLERS` uses. */
export const builtInHandlers: Record<string, AnyHandler> = {
  log: logHandler,
};
