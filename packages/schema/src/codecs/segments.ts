/* Segments: a customer entered or left a segment. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import { Customer, Segment, SimpleCampaign, SimpleVoucher } from './entities.js';

/**
 * `data` of `customer.segment.{entered,left}` (distributions): the customer
 * and the segment, both required with their ids; a distribution may add the
 * campaign, code or publication it sends.
 */
export const SegmentData = struct(
  'SegmentData',
  { customer: Customer, segment: Segment },
  {
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    publication: nullable(t.UnknownRecord),
    promotion_tier: nullable(t.UnknownRecord),
  },
);
/** A customer entered or left a segment. */
export type SegmentData = t.TypeOf<typeof SegmentData>;

/** The segment events. */
export const SEGMENT_EVENTS = {
  'customer.segment.entered': SegmentData,
  'customer.segment.left': SegmentData,
} as const;
