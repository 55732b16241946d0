import * as t from 'io-ts';
import { isRight } from 'fp-ts/lib/Either.js';
import { projectKey, type RedisClient } from '@vouchflow/core';

/*
 * A handler's circuit breaker, shared by every worker process of a deployment
 * through one small Redis hash per handler:
 *
 *   state        absent (closed), `open` or `half-open`
 *   fails        closed: epoch ms of the current streak of failures, comma-separated (at most `failures` of them)
 *   until        open: when the cool-down ends and one probe may run
 *   cooldown     open, half-open: the current cool-down in ms (doubles after each failed probe)
 *   opened       open, half-open: when it opened (a failed probe keeps it)
 *   probe        half-open: the run probing, and `probe_until`, the end of its lease
 *   since        when it last changed state
 *
 * Closing deletes the hash, so a closed breaker with no failures is no key at
 * all. Every change is one Lua call on that key, so two processes never both
 * open it, and exactly one of them wins a probe. Only this module writes or
 * parses these fields: others read the decoded {@link CircuitView}.
 */

/** Key of a handler's circuit breaker. */
export const circuitKey = (queuePrefix: string, handler: string): string => projectKey(queuePrefix, 'circuit', handler);

export const CircuitState = t.keyof({ closed: null, open: null, 'half-open': null }, 'CircuitState');
/** `closed`: units run. `open`: units wait, no attempt spent. `half-open`: one probe unit runs, the others wait. */
export type CircuitState = t.TypeOf<typeof CircuitState>;

/** A breaker as read from Redis. */
export const CircuitView = t.type(
  {
    state: CircuitState,
    /** Closed: failures in the current streak (within the window). */
    failures: t.number,
    /** Open: epoch ms when one probe may run; half-open: when the probe's lease ends. `null` when closed. */
    until: t.union([t.number, t.null]),
    /** The current cool-down in ms; `null` when closed. */
    cooldownMs: t.union([t.number, t.null]),
    /** Epoch ms it opened (kept through failed probes); `null` when closed. */
    openedAt: t.union([t.number, t.null]),
  },
  'CircuitView',
);
export type CircuitView = t.TypeOf<typeof CircuitView>;

export const CLOSED: CircuitView = { state: 'closed', failures: 0, until: null, cooldownMs: null, openedAt: null };

const num = (s: string | undefined): number | null => (s === undefined || s === '' || !Number.isFinite(Number(s)) ? null : Number(s));

/** Decodes the hash (HGETALL); anything unreadable counts as closed: a breaker must never hold work for ever by mistake. */
export function decodeCircuit(raw: Readonly<Record<string, string>>): CircuitView {
  const state = raw['state'] === undefined ? 'closed' : raw['state'];
  const fails = raw['fails'] ? raw['fails'].split(',').length : 0;
  const view = {
    state,
    failures: state === 'closed' ? fails : 0,
    until: state === 'half-open' ? num(raw['probe_until']) : state === 'open' ? num(raw['until']) : null,
    cooldownMs: state === 'closed' ? null : num(raw['cooldown']),
    openedAt: state === 'closed' ? null : num(raw['opened']),
  };
  const decoded = CircuitView.decode(view);
  return isRight(decoded) ? decoded.right : CLOSED;
}

/** Reads a handler's breaker. */
export async function readCircuit(redis: RedisClient, queuePrefix: string, handler: string): Promise<CircuitView> {
  return decodeCircuit(await redis.hgetall(circuitKey(queuePrefix, handler)));
}

// KEYS[1] the breaker. ARGV: now, failures (threshold), windowMs, cooldownMs.
// Counts a failure while closed; opens when `failures` of them fall within the window. Open or half-open: nothing counted.
const FAILURE = `
local state = redis.call('HGET', KEYS[1], 'state')
if state then return {state, 0} end
local now, threshold, window, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local kept = {}
local fails = redis.call('HGET', KEYS[1], 'fails')
if fails then
  for ts in string.gmatch(fails, '%d+') do
    if now - tonumber(ts) < window then kept[#kept + 1] = ts end
  end
end
kept[#kept + 1] = tostring(now)
while #kept > threshold do table.remove(kept, 1) end
if #kept >= threshold then
  redis.call('HDEL', KEYS[1], 'fails')
  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + cooldown, 'cooldown', cooldown, 'opened', now, 'since', now)
  return {'opened', #kept}
end
redis.call('HSET', KEYS[1], 'fails', table.concat(kept, ','))
return {'closed', #kept}
`;

// KEYS[1] the breaker. A success while closed ends the streak of failures.
const SUCCESS = `
if redis.call('HEXISTS', KEYS[1], 'state') == 0 then redis.call('DEL', KEYS[1]) return 'closed' end
return redis.call('HGET', KEYS[1], 'state')
`;

// KEYS[1] the breaker. ARGV: now, leaseMs, probe id.
// Open past its cool-down, or half-open with a lapsed probe lease (its process died): this caller probes.
const PROBE = `
local h = redis.call('HMGET', KEYS[1], 'state', 'until', 'probe_until')
local now = tonumber(ARGV[1])
if not h[1] then return {'closed', 0} end
local due = (h[1] == 'open' and now >= tonumber(h[2])) or (h[1] == 'half-open' and now >= tonumber(h[3]))
if not due then return {h[1], tonumber(h[1] == 'open' and h[2] or h[3])} end
local lease = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'state', 'half-open', 'probe', ARGV[3], 'probe_until', lease, 'since', now)
return {'probe', lease}
`;

// KEYS[1] the breaker. ARGV: verdict (success, failure, release), probe id, now, max cool-down.
// The probe's verdict, if it still holds the probe: success closes, failure re-opens for twice the cool-down, release lets another probe now.
const VERDICT = `
local h = redis.call('HMGET', KEYS[1], 'state', 'probe', 'cooldown')
if h[1] ~= 'half-open' or h[2] ~= ARGV[2] then return {h[1] or 'closed', 0, 0} end
local now = tonumber(ARGV[3])
if ARGV[1] == 'success' then redis.call('DEL', KEYS[1]) return {'closed', 0, 1} end
redis.call('HDEL', KEYS[1], 'probe', 'probe_until')
local cooldown = tonumber(h[3])
if ARGV[1] == 'failure' then cooldown = math.min(cooldown * 2, tonumber(ARGV[4])) end
local untilAt = now
if ARGV[1] == 'failure' then untilAt = now + cooldown end
redis.call('HSET', KEYS[1], 'state', 'open', 'until', untilAt, 'cooldown', cooldown, 'since', now)
return {'open', untilAt, 1}
`;

const COMMANDS = {
  vouchflowCircuitFailure: FAILURE,
  vouchflowCircuitSuccess: SUCCESS,
  vouchflowCircuitProbe: PROBE,
  vouchflowCircuitVerdict: VERDICT,
};
type Command = keyof typeof COMMANDS;

/** What a probe's run tells the breaker: the downstream works, does not, or the run said nothing about it. */
export type ProbeVerdict = 'success' | 'failure' | 'release';

/** The breaker operations of one deployment; every method is one Lua call on the handler's key. */
export interface CircuitStore {
  /** Counts a failure while closed; resolves with the state after it, and whether this very failure opened it. */
  failure(
    handler: string,
    at: { now: number; failures: number; windowMs: number; cooldownMs: number },
  ): Promise<{ state: CircuitState; opened: boolean }>;
  /** Ends a streak of failures while closed. */
  success(handler: string): Promise<void>;
  /** Tries to become the one probe of an open breaker whose cool-down ended. */
  probe(
    handler: string,
    at: { now: number; leaseMs: number; probeId: string },
  ): Promise<{ granted: true; leaseUntil: number } | { granted: false; view: CircuitView }>;
  /** The probe's verdict; ignored (`applied: false`) unless `probeId` still holds the probe. Resolves with the state after it. */
  verdict(
    handler: string,
    at: { verdict: ProbeVerdict; probeId: string; now: number; maxCooldownMs: number },
  ): Promise<{ state: CircuitState; until: number | null; applied: boolean }>;
  read(handler: string): Promise<CircuitView>;
}

export function circuitStore(redis: RedisClient, queuePrefix: string): CircuitStore {
  for (const [name, lua] of Object.entries(COMMANDS)) if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  const call = (name: Command, handler: string, ...args: Array<string | number>) =>
    (redis as unknown as Record<Command, (...a: Array<string | number>) => Promise<unknown>>)[name].call(
      redis,
      circuitKey(queuePrefix, handler),
      ...args,
    );
  const stateOf = (s: unknown): CircuitState => (s === 'open' || s === 'half-open' ? s : 'closed');
  return {
    async failure(handler, { now, failures, windowMs, cooldownMs }) {
      const [state] = (await call('vouchflowCircuitFailure', handler, now, failures, windowMs, cooldownMs)) as [string, number];
      return state === 'opened' ? { state: 'open', opened: true } : { state: stateOf(state), opened: false };
    },
    async success(handler) {
      await call('vouchflowCircuitSuccess', handler);
    },
    async probe(handler, { now, leaseMs, probeId }) {
      const [what, until] = (await call('vouchflowCircuitProbe', handler, now, leaseMs, probeId)) as [string, number];
      if (what === 'probe') return { granted: true, leaseUntil: Number(until) };
      // Lost the race or not due: read the whole view, so the caller's local one is right.
      return { granted: false, view: await readCircuit(redis, queuePrefix, handler) };
    },
    async verdict(handler, { verdict, probeId, now, maxCooldownMs }) {
      const [state, until, applied] = (await call('vouchflowCircuitVerdict', handler, verdict, probeId, now, maxCooldownMs)) as [
        string,
        number,
        number,
      ];
      return { state: stateOf(state), until: state === 'open' && applied === 1 ? Number(until) : null, applied: applied === 1 };
    },
    read: (handler) => readCircuit(redis, queuePrefix, handler),
  };
}
