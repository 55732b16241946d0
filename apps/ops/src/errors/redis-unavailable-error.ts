/** Redis did not answer in time; no command can do anything useful without it. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}
