import { brandedInstanceOf, ERROR_KIND } from './brand.js';

/**
 * Throw from a handler when trying again cannot help: a payload the downstream
 * rejects, a 4XX that will not change its mind. The unit of work goes to the
 * dead letters at once, with this message, without spending more attempts.
 * Recognised by its brand, so one from a plugin's own copy of the kit counts.
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
  readonly [ERROR_KIND] = 'permanent' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
  static override [Symbol.hasInstance] = brandedInstanceOf(PermanentError, 'permanent');
}
