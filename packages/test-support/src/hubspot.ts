import { createServer, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback.js';

/** A request the stand-in received. */
export interface HubSpotRequest {
  method: string;
  /** Without the query. */
  path: string;
  query: URLSearchParams;
  body: string;
}

/**
 * How an upsert ends: `answered` (applied, 200); `dropped-after-applying`
 * (applied, then the connection drops before the answer: what a client killed
 * right after HubSpot took the write leaves behind); `dropped` (the
 * connection drops and nothing is applied: killed before).
 */
export type UpsertEnding = 'answered' | 'dropped-after-applying' | 'dropped';

export interface HubSpotStandIn {
  url: string;
  /** Contacts by the value of their id property, with the properties written to them. Seed or inspect. */
  contacts: Map<string, Record<string, string>>;
  /** Every request, in order. */
  requests: HubSpotRequest[];
  /** The batch upserts among `requests`. */
  upserts(): HubSpotRequest[];
  /** The contact reads among `requests`. */
  reads(): HubSpotRequest[];
  /** How the next upserts end. @defaultValue 'answered' */
  upsertEnding: UpsertEnding;
  /** Answer reads with this status and a HubSpot error body (429, 503) instead of the contact. @defaultValue undefined */
  readStatus?: number;
  /** Awaited before each request is handled (applied, read): hold one back to see what happens meanwhile. @defaultValue none */
  pause?: (request: HubSpotRequest) => Promise<void>;
  close(): Promise<void>;
}

const UPSERT = '/crm/v3/objects/contacts/batch/upsert';
const CONTACT = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/;

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const error = (res: ServerResponse, status: number, message: string) =>
  json(res, status, { status: 'error', message, correlationId: 'standin', category: status === 404 ? 'OBJECT_NOT_FOUND' : 'ERROR' });

/**
 * A real HTTP server on loopback standing in for the two HubSpot calls the
 * `crm` handler makes, keeping contacts as HubSpot does: the batch upsert
 * creates or updates contacts by `idProperty`, and
 * `GET /crm/v3/objects/contacts/{id}?idProperty=…&properties=…` answers the
 * requested properties (null when unset) or 404.
 */
export async function startHubSpot({ idProperty = 'voucherify_customer_id' } = {}): Promise<HubSpotStandIn> {
  const contacts = new Map<string, Record<string, string>>();
  const requests: HubSpotRequest[] = [];
  const hsIds = new Map<string, string>();
  // HubSpot's own record id of a contact, as its answers carry it.
  const hsId = (id: string) => {
    let known = hsIds.get(id);
    if (known === undefined) hsIds.set(id, (known = String(500 + hsIds.size)));
    return known;
  };

  const state: HubSpotStandIn = {
    url: '',
    contacts,
    requests,
    upserts: () => requests.filter((r) => r.method === 'POST' && r.path === UPSERT),
    reads: () => requests.filter((r) => r.method === 'GET' && CONTACT.test(r.path)),
    upsertEnding: 'answered',
    close: async () => undefined,
  };

  const upsert = (seen: HubSpotRequest, res: ServerResponse) => {
    const ending = state.upsertEnding;
    const { inputs } = JSON.parse(seen.body) as { inputs: Array<{ idProperty: string; id: string; properties: Record<string, string> }> };
    if (inputs.some((i) => i.idProperty !== idProperty)) return error(res, 400, `idProperty must be ${idProperty}`);
    if (ending !== 'dropped') {
      for (const i of inputs) contacts.set(i.id, { ...contacts.get(i.id), ...i.properties });
    }
    if (ending !== 'answered') return res.socket?.destroy();
    json(res, 200, {
      status: 'COMPLETE',
      results: inputs.map((i) => ({ id: hsId(i.id), properties: contacts.get(i.id), new: false })),
    });
  };

  const read = (seen: HubSpotRequest, id: string, res: ServerResponse) => {
    if (state.readStatus !== undefined) return error(res, state.readStatus, 'the stand-in was told to refuse reads');
    if (seen.query.get('idProperty') !== idProperty) return error(res, 400, `idProperty must be ${idProperty}`);
    const held = contacts.get(id);
    if (!held) return error(res, 404, 'resource not found');
    const wanted = (seen.query.get('properties') ?? '').split(',').filter(Boolean);
    const properties: Record<string, string | null> = { hs_object_id: hsId(id) };
    for (const name of wanted) properties[name] = held[name] ?? null;
    json(res, 200, { id: hsId(id), properties, archived: false });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://standin');
      const seen = { method: req.method ?? '', path: url.pathname, query: url.searchParams, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(seen);
      void (async () => {
        await state.pause?.(seen);
        const contact = CONTACT.exec(seen.path);
        if (seen.method === 'POST' && seen.path === UPSERT) upsert(seen, res);
        else if (seen.method === 'GET' && contact) read(seen, decodeURIComponent(contact[1]!), res);
        else error(res, 404, `no such endpoint in the stand-in: ${seen.method} ${seen.path}`);
      })();
    });
  });
  const listening = await listenOnLoopback(server);
  state.url = listening.url;
  state.close = listening.close;
  return state;
}
