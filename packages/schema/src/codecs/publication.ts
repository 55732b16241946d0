/* Publication: a code was published (assigned) to a customer. */
import * as t from 'io-ts';
import { Metadata, nullable, struct } from './common.js';
import { CustomerDetails, SimpleCampaign, SimpleCustomer, SimpleVoucher, VoucherDetails } from './entities.js';

/** A publication (`pub_…`): a voucher handed to a customer; every field optional. */
export const SimplePublication = t.partial(
  {
    id: t.string,
    customer_id: nullable(t.string),
    tracking_id: nullable(t.string),
    // `API`, `voucherify-web-ui`, `Automation`, …: an open string.
    channel: nullable(t.string),
    source_id: nullable(t.string),
    result: t.string,
    metadata: nullable(Metadata),
    vouchers_id: t.array(t.string),
    voucher: nullable(VoucherDetails),
    customer: nullable(CustomerDetails),
    created_at: t.string,
    object: t.literal('publication'),
  },
  'SimplePublication',
);
export type SimplePublication = t.TypeOf<typeof SimplePublication>;

/** A publication as the subject of its event: its `id` is the once-only key. */
export const PublicationSubject = struct('PublicationSubject', { id: t.string }, SimplePublication.props);

/**
 * `data` of `publication.succeeded` (project webhooks) and
 * `customer.publication.succeeded` (distributions): the publication is the
 * subject and required; the codes, customer and campaign come along.
 */
export const PublicationSucceededData = struct(
  'PublicationSucceededData',
  { publication: PublicationSubject },
  {
    customer: nullable(SimpleCustomer),
    campaign: nullable(SimpleCampaign),
    voucher: nullable(SimpleVoucher),
    vouchers: t.array(SimpleVoucher),
    // Who published it, in the dashboard.
    user: nullable(t.partial({ id: t.string }, 'PublishingUser')),
  },
);
/** Codes were published to a customer. */
export type PublicationSucceededData = t.TypeOf<typeof PublicationSucceededData>;

/** The publication events. */
export const PUBLICATION_EVENTS = {
  'publication.succeeded': PublicationSucceededData,
  'customer.publication.succeeded': PublicationSucceededData,
} as const;
