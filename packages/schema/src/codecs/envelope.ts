import * as t from 'io-ts';
import { struct } from './common.js';

/** Who or what caused the event. */
export const EventSource = struct(
  'EventSource',
  { channel: t.string },
  { user: t.partial({ id: t.string }), api_key: t.partial({ name: t.string, app_id: t.string }) },
);
export type EventSource = t.TypeOf<typeof EventSource>;

/** `event` of the envelope: `type` is the real event name (route on it), `id` the deduplication key. */
export const EventMeta = struct(
  'EventMeta',
  { id: t.string, type: t.string, created_at: t.string },
  { entity_id: t.union([t.string, t.null]), group_id: t.union([t.string, t.null]), event_source: EventSource },
);
export type EventMeta = t.TypeOf<typeof EventMeta>;

/** Where the delivery came from: a distribution (`distr_…`) or a project webhook (`wh_…`). */
export const DeliverySource = struct('DeliverySource', { id: t.string, object: t.string }, { target_url: t.string });
export type DeliverySource = t.TypeOf<typeof DeliverySource>;

/**
 * The webhook envelope, version 2024-01-01, with `data` left undecoded.
 * Top-level `type` is free text for distributions and is never routed on.
 */
export const Envelope = t.type(
  {
    id: t.string,
    project_id: t.string,
    created_at: t.string,
    type: t.string,
    data: t.UnknownRecord,
    source: DeliverySource,
    event: EventMeta,
  },
  'Envelope',
);
export type Envelope = t.TypeOf<typeof Envelope>;
