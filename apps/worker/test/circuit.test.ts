import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { PermanentError } from '@vouchflow/handler-kit';
import { circuitKey, circuitStore, createDeadLetterStore, readCircuit } from '@vouchflow/pipeline';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@vouchflow/test-support';
import { CircuitBreaker, circuitSettingsOf, DEFAULT_CIRCUIT, type CircuitDefaults, type CircuitTransition } from '../src/circuit.js';
import { circuitAlertText } from '../src/create-worker.js';
import { validateHandler } from '../src/registry.js';
import { Harness, delivery, settled, testHandler } from './support.js';

const SETTINGS: CircuitDefaults = { failures: 3, windowMs: 1000, cooldownMs: 500, maxCooldownMs: 2000 };

describe('the circuit breaker state machine, against real Redis', () => {
  const url = testRedisUrl();
  let prefix: string;
  let connections: Redis[];
  let clock: number;
  let transitions: CircuitTransition[];

  /** A breaker as one worker process holds it: its own connection, the shared clock. */
  const breaker = (settings = SETTINGS, probeLeaseMs = 5000) => {
    const redis = new Redis(url, { maxRetriesPerRequest: null });
    connections.push(redis);
    return new CircuitBreaker('crm', settings, circuitStore(redis, prefix), {
      probeLeaseMs,
      now: () => clock,
      random: () => 0,
      onTransition: (t) => transitions.push(t),
    });
  };
  const fail = (b: CircuitBreaker) => b.settle({ run: true }, 'failure', 'HubSpot 503');
  const view = () => readCircuit(connections[0]!, prefix, 'crm');

  beforeEach(() => {
    prefix = uniquePrefix('circuit');
    connections = [];
    clock = 1_000_000;
    transitions = [];
  });
  afterEach(async () => {
    await deletePrefix(url, prefix);
    await Promise.all(connections.map((c) => c.quit()));
  });

  it('opens at the N-th failure in a row within the window, and holds units for the cool-down', async () => {
    const b = breaker();
    expect(await b.admit()).toEqual({ run: true });
    await fail(b);
    clock += 100;
    await fail(b);
    expect((await view()).state).toBe('closed');
    expect((await view()).failures).toBe(2);
    clock += 100;
    await fail(b);
    expect(await view()).toMatchObject({ state: 'open', until: clock + 500, cooldownMs: 500, openedAt: clock });
    expect(transitions).toEqual([
      expect.objectContaining({ from: 'closed', to: 'open', failures: 3, error: 'HubSpot 503', cooldownMs: 500 }),
    ]);
    expect(await b.admit()).toEqual({ run: false, retryInMs: 500 });
    clock += 200;
    expect(await b.admit()).toEqual({ run: false, retryInMs: 300 });
  });

  it('does not open when the failures are spread beyond the window', async () => {
    const b = breaker();
    for (let i = 0; i < 10; i++) {
      await fail(b);
      clock += 600;
    }
    expect((await view()).state).toBe('closed');
    expect(transitions).toEqual([]);
  });

  it('counts only failures in a row: a success ends the streak, and writes only when there is one', async () => {
    const a = breaker();
    const b = breaker();
    await fail(a);
    await fail(a);
    await b.refresh();
    expect(b.state.failures).toBe(2);
    await b.settle({ run: true }, 'success');
    expect(await connections[0]!.exists(circuitKey(prefix, 'crm'))).toBe(0);
    await fail(a);
    await fail(a);
    expect((await view()).state).toBe('closed');
    await fail(a);
    expect((await view()).state).toBe('open');
  });

  it('does not count a PermanentError (the downstream answered) nor a unit that learnt nothing', async () => {
    const b = breaker();
    for (let i = 0; i < 5; i++) {
      await b.settle({ run: true }, 'answered');
      await b.settle({ run: true }, 'neutral');
    }
    expect(await connections[0]!.exists(circuitKey(prefix, 'crm'))).toBe(0);
  });

  it('lets exactly one probe run across two processes once the cool-down ends', async () => {
    const a = breaker();
    const b = breaker();
    for (let i = 0; i < 3; i++) await fail(a);
    await b.refresh();
    expect(b.state.state).toBe('open');
    clock += 500;
    const admissions = await Promise.all([a.admit(), b.admit(), a.admit(), b.admit()]);
    const probes = admissions.filter((x) => x.run);
    expect(probes).toHaveLength(1);
    expect(probes[0]).toMatchObject({ run: true, probeId: expect.any(String) });
    for (const held of admissions.filter((x) => !x.run)) expect(held.retryInMs).toBeGreaterThanOrEqual(1000);
    expect((await view()).state).toBe('half-open');
    expect(transitions.map((t) => t.to)).toEqual(['open', 'half-open']);
  });

  it('re-opens a failed probe with twice the cool-down, up to the cap; a success closes and resets', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i++) await fail(b);
    const cooldowns: number[] = [];
    for (let i = 0; i < 4; i++) {
      clock = (await view()).until!;
      const probe = await b.admit();
      expect(probe.run && probe.probeId).toBeTruthy();
      const after = await b.settle(probe, 'failure', 'still 503');
      const v = await view();
      expect(v.state).toBe('open');
      expect(after.until).toBe(v.until);
      cooldowns.push(v.cooldownMs!);
      expect(v.until).toBe(clock + v.cooldownMs!);
    }
    expect(cooldowns).toEqual([1000, 2000, 2000, 2000]);
    clock = (await view()).until!;
    const probe = await b.admit();
    expect(await b.settle(probe, 'success')).toEqual({ state: 'closed', until: null });
    expect(await connections[0]!.exists(circuitKey(prefix, 'crm'))).toBe(0);
    expect(transitions.at(-1)).toMatchObject({ from: 'half-open', to: 'closed' });
    expect(await b.admit()).toEqual({ run: true });
    // Opened again, it starts from the base cool-down.
    for (let i = 0; i < 3; i++) await fail(b);
    expect((await view()).cooldownMs).toBe(500);
  });

  it('a probe that learnt nothing lets another probe at once; a probe whose process died lets another after its lease', async () => {
    const a = breaker(SETTINGS, 3000);
    const b = breaker(SETTINGS, 3000);
    for (let i = 0; i < 3; i++) await fail(a);
    clock += 500;
    const first = await a.admit();
    expect(first.run).toBe(true);
    await a.settle(first, 'neutral');
    expect((await view()).state).toBe('open');
    await b.refresh();
    const second = await b.admit();
    expect(second.run && second.probeId).toBeTruthy();
    // b's process "dies": its probe never settles.
    clock += 2999;
    expect((await a.admit()).run).toBe(false);
    clock += 1;
    const third = await a.admit();
    expect(third.run && third.probeId).toBeTruthy();
    // The dead probe's late verdict is ignored.
    await b.settle(second, 'failure');
    expect((await view()).state).toBe('half-open');
    await a.settle(third, 'success');
    expect((await view()).state).toBe('closed');
  });

  it('sees a breaker another process opened at its next refresh', async () => {
    const a = breaker();
    const b = breaker();
    for (let i = 0; i < 3; i++) await fail(a);
    expect(await b.admit()).toEqual({ run: true });
    // A unit it let through meanwhile fails: not counted again, and b does not claim the opening.
    await fail(b);
    expect(transitions.map((t) => t.to)).toEqual(['open']);
    expect(b.state.state).toBe('open');
    expect((await b.admit()).run).toBe(false);
  });

  it('a probe whose lease ran out does not report the verdict another probe gave', async () => {
    const a = breaker(SETTINGS, 1000);
    const b = breaker(SETTINGS, 1000);
    for (let i = 0; i < 3; i++) await fail(a);
    await b.refresh();
    clock += 500;
    const stale = await a.admit();
    clock += 1000;
    const fresh = await b.admit();
    expect(stale.run && fresh.run).toBe(true);
    await b.settle(fresh, 'success');
    transitions = [];
    expect(await a.settle(stale, 'success')).toEqual({ state: 'closed', until: null });
    expect(transitions).toEqual([]);
  });
});

describe('circuit settings and alerts', () => {
  it('checks a handler’s circuit setting at start', () => {
    const base = { name: 'crm', events: ['customer.*'], handle: async () => undefined };
    expect(validateHandler({ ...base, circuit: false }, 'test').circuit).toBe(false);
    expect(validateHandler({ ...base, circuit: { failures: 5, cooldownMs: 1000 } }, 'test').circuit).toEqual({
      failures: 5,
      cooldownMs: 1000,
    });
    for (const circuit of [true, { failures: 0 }, { windowMs: '60000' }, { cooldown: 5 }, []]) {
      expect(() => validateHandler({ ...base, circuit }, 'test')).toThrow(
        /circuit must be false or \{ failures\?, windowMs\?, cooldownMs\? \}/,
      );
    }
  });

  it('merges a handler’s settings over the worker’s; false or failures 0 turn it off', () => {
    expect(circuitSettingsOf(undefined, DEFAULT_CIRCUIT)).toEqual(DEFAULT_CIRCUIT);
    expect(circuitSettingsOf({ failures: 3, cooldownMs: 5000 }, DEFAULT_CIRCUIT)).toEqual({
      ...DEFAULT_CIRCUIT,
      failures: 3,
      cooldownMs: 5000,
    });
    expect(circuitSettingsOf(false, DEFAULT_CIRCUIT)).toBeUndefined();
    expect(circuitSettingsOf({}, false)).toBeUndefined();
    expect(circuitSettingsOf(undefined, { ...DEFAULT_CIRCUIT, failures: 0 })).toBeUndefined();
    // A cool-down above the cap raises the cap.
    expect(circuitSettingsOf({ cooldownMs: 20 * 60_000 }, DEFAULT_CIRCUIT)?.maxCooldownMs).toBe(20 * 60_000);
  });

  it('alerts on opening and closing only', () => {
    const base = { handler: 'crm', until: null, cooldownMs: 30_000 };
    expect(circuitAlertText('vf', { ...base, from: 'closed', to: 'open', error: 'HubSpot 503: down' }, DEFAULT_CIRCUIT)).toMatch(
      /circuit of handler crm opened after 10 failures within 60 s\.\nLast error: HubSpot 503: down\n.*probe runs in 30 s/,
    );
    expect(circuitAlertText('vf', { ...base, from: 'half-open', to: 'closed', openMs: 95_000 }, DEFAULT_CIRCUIT)).toMatch(
      /circuit of handler crm closed after 95 s open/,
    );
    expect(circuitAlertText('vf', { ...base, from: 'open', to: 'half-open' }, DEFAULT_CIRCUIT)).toBeUndefined();
    expect(circuitAlertText('vf', { ...base, from: 'half-open', to: 'open' }, DEFAULT_CIRCUIT)).toBeUndefined();
  });
});

describe('a worker behind its handlers’ breakers', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('holds the units of a failing handler without spending their attempts, and runs them all once it answers', async () => {
    let down = true;
    const crm = testHandler('crm', () => {
      if (down) throw new Error('CRM answered 503');
    });
    const other = testHandler('other');
    const worker = await h.start([crm, other], {
      maxAttempts: 2,
      backoffMs: 50,
      circuit: { failures: 3, windowMs: 60_000, cooldownMs: 300, maxCooldownMs: 1000 },
    });
    const states: string[] = [];
    worker.events.on('circuit', ({ handler, state }) => handler === 'crm' && states.push(state));
    const opened = new Promise<void>((resolve) => worker.events.on('circuit', ({ state }) => state === 'open' && resolve()));
    const others = settled(worker, 'other', { count: 12 });
    for (let i = 0; i < 12; i++) await h.send(delivery());
    await opened;
    // Other handlers of the same events are never held up.
    await others;
    expect(await readCircuit(h.redis, h.prefix, 'crm')).toMatchObject({ state: expect.stringMatching(/open/) });
    const done = settled(worker, 'crm', { count: 12, timeoutMs: 20_000 });
    down = false;
    await done;
    expect(states).toContain('closed');
    expect(states.at(-1)).toBe('closed');
    const store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
    h.onClose(() => store.close());
    expect(await store.count({ handler: 'crm' })).toBe(0);
    // With two attempts and three failures to open it, most units never failed at all.
    const failedMetric = await worker.metrics.registry.getSingleMetricAsString('vouchflow_circuit_transitions_total');
    expect(failedMetric).toMatch(/vouchflow_circuit_transitions_total\{handler="crm",to="open"\} [1-9]/);
    expect(failedMetric).toMatch(/vouchflow_circuit_transitions_total\{handler="crm",to="closed"\} 1/);
  });

  it('never opens for PermanentErrors, and a handler with circuit: false has no breaker', async () => {
    const strict = testHandler('strict', (ctx) => {
      throw new ctx.errors.PermanentError('404 contact');
    });
    const unguarded = testHandler(
      'unguarded',
      () => {
        throw new PermanentError('nope');
      },
      { circuit: false },
    );
    const worker = await h.start([strict, unguarded], { maxAttempts: 1, circuit: { failures: 2 } });
    const states: string[] = [];
    worker.events.on('circuit', ({ state }) => states.push(state));
    const store = createDeadLetterStore({ connection: h.redis, queuePrefix: h.prefix });
    h.onClose(() => store.close());
    for (let i = 0; i < 6; i++) await h.send(delivery());
    for (;;) {
      if ((await store.count({ handler: 'strict' })) === 6 && (await store.count({ handler: 'unguarded' })) === 6) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(states).toEqual([]);
    expect(await h.redis.exists(circuitKey(h.prefix, 'strict'), circuitKey(h.prefix, 'unguarded'))).toBe(0);
  });
});
