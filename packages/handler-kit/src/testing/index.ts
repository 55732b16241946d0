export { runHandler, type RunOptions, type RunResult } from './run-handler.js';
export { loadFixture, fixtureNames } from './fixtures.js';
export { captureLogger, type LogLine } from './capture-logger.js';
