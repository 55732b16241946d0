import { BooleanFromString, CommaList, ConfigError, PortFromString, commonEnv, decodeEnv, type ConfigOf } from '@vouchflow/core';

export const ingressEnv = {
  ...commonEnv,
  /** HTTP port of the ingress. */
  PORT: { codec: PortFromString, default: '3000' },
  /** One or more webhook secrets, comma-separated: during a rotation both old and new verify. */
  VOUCHERIFY_WEBHOOK_SECRET: { codec: CommaList, secret: true },
  /** Accept deliveries without a valid signature. Local experiments only; logged loudly. */
  WEBHOOK_ALLOW_UNSIGNED: { codec: BooleanFromString, default: 'false' },
};

export type IngressConfig = ConfigOf<typeof ingressEnv> & { secrets: string[] };

/** Decodes the ingress settings once, at start. Fails closed: no secret and no explicit opt-out stops the process. */
export function loadIngressConfig(env: Record<string, string | undefined>): IngressConfig {
  const config = decodeEnv(ingressEnv, env);
  const secrets = config.VOUCHERIFY_WEBHOOK_SECRET ?? [];
  if (secrets.length === 0 && !config.WEBHOOK_ALLOW_UNSIGNED) {
    throw new ConfigError([
      'VOUCHERIFY_WEBHOOK_SECRET: required (the webhook secret from Voucherify Project Settings → Webhooks); set WEBHOOK_ALLOW_UNSIGNED=true only for local experiments',
    ]);
  }
  return { ...config, secrets };
}
