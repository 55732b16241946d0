/* The manual distribution schedule: a distribution an operator started by hand sends its message. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import { SimpleCampaign, SimpleCustomer, SimpleVoucher, subject } from './entities.js';
import { SimplePublication } from './publication.js';

/** A distribution (`distr_…`) as its schedule event sends it. */
export const Distribution = subject('Distribution', {
  status: t.string,
  consents: nullable(t.UnknownRecord),
  set_live_at: nullable(t.string),
  distribution_channels: t.array(t.string),
  created_at: t.string,
  updated_at: nullable(t.string),
});
export type Distribution = t.TypeOf<typeof Distribution>;

/**
 * `data` of `manual_distribution_schedule`: the distribution is the subject;
 * the customer it writes to, and the campaign, code or publication it sends,
 * come along.
 */
export const DistributionScheduleData = struct(
  'DistributionScheduleData',
  { distribution: Distribution },
  {
    customer: nullable(SimpleCustomer),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    publication: nullable(SimplePublication),
    promotion_tier: nullable(t.UnknownRecord),
  },
);
/** A manually started distribution sent its message to a customer. */
export type DistributionScheduleData = t.TypeOf<typeof DistributionScheduleData>;

/** The distribution event. */
export const DISTRIBUTION_EVENTS = { manual_distribution_schedule: DistributionScheduleData } as const;
