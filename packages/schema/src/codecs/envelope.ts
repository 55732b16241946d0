import * as t from 'io-ts';
import { nullable, openString, struct } from './common.js';

/** The channels WEBHOOKS.md lists. */
export const EVENT_CHANNELS = ['USER_PORTAL', 'API', 'CLIENT_API', 'INTERNAL'] as const;

/**
 * Who or what caused the event. `channel` is open: a new channel (a partner
 * integration, say) says nothing about whether the event is good, and the
 * envelope failing would drop every event of every type.
 */
export const EventSource = struct(
  'EventSource',
  { channel: openString('EventChannel', EVENT_CHANNELS) },
  // Either may be null (an automation has no user): nothing reads them, and the envelope failing would drop every event.
  {
    user: nullable(t.partial({ id: t.string }, 'EventUser')),
    api_key: nullable(t.partial({ name: t.string, app_id: t.string }, 'EventApiKey')),
  },
);
export type EventSource = t.TypeOf<typeof EventSource>;

/** `event` of the envelope: `type` is the real event name (route on it), `id` the deduplication key. */
export const EventMeta = struct(
  'EventMeta',
  { id: t.string, type: t.string, created_at: t.string },
  { entity_id: t.union([t.string, t.null]), group_id: t.union([t.string, t.null]), event_source: EventSource },
);
export type EventMeta = t.TypeOf<typeof EventMeta>;

/** The senders WEBHOOKS.md lists. */
export const DELIVERY_SOURCE_OBJECTS = ['distribution', 'webhook'] as const;

/**
 * Where the delivery came from: a distribution (`distr_…`) or a project
 * webhook (`wh_…`). `object` is open for the same reason as `channel`.
 */
export const DeliverySource = struct(
  'DeliverySource',
  { id: t.string, object: openString('DeliverySourceObject', DELIVERY_SOURCE_OBJECTS) },
  { target_url: t.string },
);
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
