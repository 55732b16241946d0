import { driftOf } from '@vouchflow/schema';

/**
 * Finds the keys of a parsed delivery its codec does not know (Voucherify
 * added a field, or a payload designer renamed one), as paths such as
 * `data.voucher.new_field`. The worker counts them in the schema-drift metric.
 */
export type DriftFinder = (parsed: unknown) => readonly string[];

/** packages/schema's finder. */
export const schemaDrift: DriftFinder = driftOf;
