import type * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';

/**
 * A config is described by one codec per environment variable plus a default
 * (a string, as it would be written in `.env`, so one decoding path serves both).
 */
export type EnvSpec = Record<string, { codec: t.Mixed; default?: string; secret?: boolean }>;

export type ConfigOf<S extends EnvSpec> = {
  [K in keyof S]: S[K] extends { default: string } ? t.TypeOf<S[K]['codec']> : t.TypeOf<S[K]['codec']> | undefined;
};

/** Thrown at start-up when environment variables do not decode; the message names each one. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Decodes every variable of `spec` from `env` (normally `process.env`, read
 * once in each app's config.ts). Empty strings count as unset. All problems are
 * reported together, each naming its variable; secret values are never echoed.
 */
export function decodeEnv<S extends EnvSpec>(spec: S, env: Record<string, string | undefined>): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, { codec, default: fallback, secret }] of Object.entries(spec)) {
    const raw = env[name]?.trim() ? env[name] : fallback;
    if (raw === undefined) {
      out[name] = undefined;
      continue;
    }
    const result = codec.decode(raw);
    if (isLeft(result)) {
      const why = result.left.map((e) => e.message ?? `expected ${codec.name}`).join('; ');
      problems.push(`${name}: ${secret ? why.replace(raw, '***') : why}`);
    } else {
      out[name] = result.right;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}
