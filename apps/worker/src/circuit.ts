/*
 * A handler's circuit breaker, as one worker process uses it. The state is
 * shared in Redis (the pipeline's circuit.ts); this process keeps a local
 * view of it, refreshed about every second and on every change it makes
 * itself, so a closed breaker costs no Redis round trip per unit:
 *
 * - admit: closed, the unit runs. Open, it is held (delayed, no attempt
 *   spent) until the cool-down ends; then one unit, across every process,
 *   wins the probe (one Lua call) and runs, the others stay held.
 * - settle: a failure that is not a PermanentError is counted (one Lua call,
 *   which opens the breaker at the threshold); a success writes only when the
 *   local view holds failures. A probe's success closes the breaker; its
 *   failure re-opens it for twice the cool-down, and the probe unit is held
 *   like the others, spending no attempt.
 */
import { randomBytes } from 'node:crypto';
import { coerceError, MINUTE, SECOND } from '@vouchflow/core';
import type { CircuitSettings } from '@vouchflow/handler-kit';
import { CLOSED, type CircuitState, type CircuitStore, type CircuitView, type ProbeVerdict } from '@vouchflow/pipeline';
import { runUnit, type Unit, type UnitOutcome } from './unit.js';
import type { PerHandler, WorkerContext } from './worker-context.js';

/** The worker's breaker settings (CIRCUIT_*), which a handler's `circuit` overrides. */
export interface CircuitDefaults {
  /** Failures in a row (not PermanentError) that open a breaker; 0 turns breakers off. @defaultValue 10 (CIRCUIT_FAILURES) */
  failures: number;
  /** Those failures must fall within this window. @defaultValue 1 minute (CIRCUIT_WINDOW_MS) */
  windowMs: number;
  /** Open this long before a probe. @defaultValue 30 seconds (CIRCUIT_COOLDOWN_MS) */
  cooldownMs: number;
  /** Failed probes double the cool-down up to this. @defaultValue 10 minutes (CIRCUIT_COOLDOWN_MAX_MS) */
  maxCooldownMs: number;
}

export const DEFAULT_CIRCUIT: CircuitDefaults = { failures: 10, windowMs: MINUTE, cooldownMs: 30 * SECOND, maxCooldownMs: 10 * MINUTE };

/** How often each process re-reads every breaker. */
export const CIRCUIT_REFRESH_MS = SECOND;
/*
 * Held units come back spread over a tenth of the cool-down (between 1 and 5
 * seconds): each return is a job moved to delayed again, so thousands of them
 * must not all return in the same second. While another unit probes, they
 * look again after that long, plus up to as much at random.
 */
const spreadOf = (cooldownMs: number): number => Math.min(Math.max(cooldownMs / 10, SECOND), 5 * SECOND);

/** A handler's settings, or undefined when its breaker is off (`circuit: false`, or CIRCUIT_FAILURES=0). */
export function circuitSettingsOf(
  circuit: false | CircuitSettings | undefined,
  defaults: CircuitDefaults | false,
): CircuitDefaults | undefined {
  if (circuit === false || defaults === false || defaults.failures === 0) return undefined;
  const merged = { ...defaults, ...circuit };
  return { ...merged, maxCooldownMs: Math.max(merged.maxCooldownMs, merged.cooldownMs) };
}

/** A change this process made, for logs, metrics and the alert webhook. */
export interface CircuitTransition {
  handler: string;
  from: CircuitState;
  to: CircuitState;
  /** Open: when the next probe may run. */
  until: number | null;
  /** Open: the cool-down now in force. */
  cooldownMs: number | null;
  /** Open: the failures that opened it; closed after a probe: how long it was open. */
  failures?: number;
  openMs?: number;
  /** The error of the failure that opened or re-opened it. */
  error?: string;
}

/** Whether a unit runs: as a probe (its verdict goes to the breaker), or is held for `retryInMs`. */
export type Admission = { run: true; probeId?: string } | { run: false; retryInMs: number };

export interface CircuitBreakerOptions {
  /** A probe whose process dies lets another probe after this. */
  probeLeaseMs: number;
  /** Called for each change this process made; never throws. */
  onTransition?: (t: CircuitTransition) => void;
  /** Called when the local view's state changes, whoever changed it. */
  onState?: (state: CircuitState) => void;
  /** @defaultValue Date.now */
  now?: () => number;
  /** @defaultValue Math.random */
  random?: () => number;
}

const RUN: Admission = { run: true };

export class CircuitBreaker {
  private view: CircuitView = CLOSED;
  // One probe request in flight per process at a time: others are held meanwhile.
  private probing = false;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    readonly handler: string,
    readonly settings: CircuitDefaults,
    private readonly store: CircuitStore,
    private readonly options: CircuitBreakerOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** The local view: at most about a second old. */
  get state(): CircuitView {
    return this.view;
  }

  /** Re-reads the shared state. */
  async refresh(): Promise<void> {
    this.see(await this.store.read(this.handler));
  }

  /** Whether a unit may run now. Closed: answered without Redis. */
  admit(): Admission | Promise<Admission> {
    const { view } = this;
    if (view.state === 'closed') return RUN;
    const now = this.now();
    if (view.until !== null && now < view.until) return this.hold(now);
    if (this.probing) return this.hold(now);
    return this.tryProbe(now);
  }

  /** Open: until the cool-down ends, spread. Half-open (another unit probes): a few seconds. */
  private hold(now: number): Admission {
    const { view } = this;
    if (view.state === 'open' && view.until !== null && now < view.until) {
      return { run: false, retryInMs: view.until - now + Math.round(this.random() * spreadOf(this.settings.cooldownMs)) };
    }
    const poll = spreadOf(this.settings.cooldownMs);
    return { run: false, retryInMs: poll + Math.round(this.random() * poll) };
  }

  private async tryProbe(now: number): Promise<Admission> {
    this.probing = true;
    try {
      const probeId = randomBytes(6).toString('hex');
      const got = await this.store.probe(this.handler, { now, leaseMs: this.options.probeLeaseMs, probeId });
      if (!got.granted) {
        this.see(got.view);
        return this.view.state === 'closed' ? RUN : this.hold(now);
      }
      const from = this.view.state;
      this.see({ ...this.view, state: 'half-open', until: got.leaseUntil });
      this.transition({ handler: this.handler, from, to: 'half-open', until: null, cooldownMs: this.view.cooldownMs });
      return { run: true, probeId };
    } finally {
      this.probing = false;
    }
  }

  /**
   * What the unit's run says about the downstream. `failure`: it failed (not
   * permanently); `answered`: it failed permanently, so the downstream
   * answered; `neutral`: nothing learnt (skipped, postponed, aborted, busy).
   * Resolves, for a probe, with the state after its verdict.
   */
  async settle(
    admission: Admission,
    outcome: 'success' | 'failure' | 'answered' | 'neutral',
    error?: string,
  ): Promise<{ state: CircuitState; until: number | null }> {
    const now = this.now();
    if (admission.run && admission.probeId !== undefined) {
      const verdict: ProbeVerdict =
        outcome === 'success' || outcome === 'answered' ? 'success' : outcome === 'failure' ? 'failure' : 'release';
      const openedAt = this.view.openedAt;
      const after = await this.store.verdict(this.handler, {
        verdict,
        probeId: admission.probeId,
        now,
        maxCooldownMs: this.settings.maxCooldownMs,
      });
      if (!after.applied) {
        // Its lease ran out and another run probes, or probed already: that run reports the change.
        await this.refresh();
        return { state: this.view.state, until: this.view.until };
      }
      if (after.state === 'closed') {
        this.see(CLOSED);
        this.transition({
          handler: this.handler,
          from: 'half-open',
          to: 'closed',
          until: null,
          cooldownMs: null,
          ...(openedAt !== null ? { openMs: now - openedAt } : {}),
        });
      } else if (after.state === 'open' && after.until !== null) {
        const cooldownMs = verdict === 'failure' ? after.until - now : this.view.cooldownMs;
        this.see({ ...this.view, state: 'open', until: after.until, cooldownMs });
        if (verdict === 'failure') {
          this.transition({
            handler: this.handler,
            from: 'half-open',
            to: 'open',
            until: after.until,
            cooldownMs,
            ...(error ? { error } : {}),
          });
        }
      }
      return { state: after.state, until: after.until };
    }
    if (outcome === 'success' && this.view.state === 'closed' && this.view.failures > 0) {
      await this.store.success(this.handler);
      this.see({ ...this.view, failures: 0 });
    } else if (outcome === 'failure' && this.view.state === 'closed') {
      const { failures, windowMs, cooldownMs } = this.settings;
      const { state, opened } = await this.store.failure(this.handler, { now, failures, windowMs, cooldownMs });
      if (opened) {
        this.see({ state: 'open', failures: 0, until: now + cooldownMs, cooldownMs, openedAt: now });
        this.transition({
          handler: this.handler,
          from: 'closed',
          to: 'open',
          until: now + cooldownMs,
          cooldownMs,
          failures,
          ...(error ? { error } : {}),
        });
      } else if (state === 'closed') {
        this.see({ ...this.view, failures: this.view.failures + 1 });
      } else {
        // Another process opened it since this one last looked.
        await this.refresh();
      }
    }
    return { state: this.view.state, until: this.view.until };
  }

  /** Whether settling a unit (not a probe) with this lesson writes to Redis. */
  wouldRecord(lesson: 'success' | 'failure' | 'answered' | 'neutral'): boolean {
    const { view } = this;
    return view.state === 'closed' && (lesson === 'failure' || (lesson === 'success' && view.failures > 0));
  }

  private see(view: CircuitView): void {
    const before = this.view.state;
    this.view = view;
    if (view.state !== before) this.options.onState?.(view.state);
  }

  private transition(t: CircuitTransition): void {
    try {
      this.options.onTransition?.(t);
    } catch {
      // Reporting must never change what the breaker decided.
    }
  }
}

/** What a unit's outcome tells its breaker. */
function lessonOf(outcome: UnitOutcome): 'success' | 'failure' | 'answered' | 'neutral' {
  switch (outcome.kind) {
    case 'done':
      return 'skipped' in outcome.result ? 'neutral' : 'success';
    case 'failed':
      return outcome.permanent ? 'answered' : 'failure';
    case 'busy':
    case 'retry-later':
    case 'aborted':
    case 'held':
      return 'neutral';
  }
}

/**
 * A unit's life behind its handler's breaker: held while it is open (checked
 * before the permit and the claim), run otherwise, and its outcome taught to
 * the breaker. A failed probe is held too: the breaker's test spends no attempt.
 */
export async function runUnitBehindCircuit(ctx: WorkerContext, h: PerHandler, unit: Unit): Promise<UnitOutcome> {
  const breaker = h.circuit;
  if (!breaker) return runUnit(ctx, h, unit);
  const admission = await breaker.admit();
  if (!admission.run) return { kind: 'held', retryInMs: admission.retryInMs, reason: 'circuit open' };
  const probe = admission.probeId !== undefined;
  let outcome: UnitOutcome;
  try {
    outcome = await runUnit(ctx, h, unit);
  } catch (err) {
    if (probe) await breaker.settle(admission, 'neutral').catch(() => undefined);
    throw err;
  }
  const lesson = lessonOf(outcome);
  // The common case costs nothing: a success with no streak to end, or a unit that taught nothing.
  if (!probe && !breaker.wouldRecord(lesson)) return outcome;
  let after: { state: CircuitState; until: number | null };
  try {
    after = await breaker.settle(admission, lesson, outcome.kind === 'failed' ? outcome.error.message : undefined);
  } catch (err) {
    // The breaker is best-effort: the unit's own outcome stands (a lost probe's lease lapses and another probes).
    unit.log().warn('circuit breaker not updated', { error: coerceError(err).message });
    return outcome;
  }
  if (probe && lesson === 'failure' && after.state === 'open') {
    const retryInMs = Math.max(0, (after.until ?? Date.now()) - Date.now());
    unit.log().warn('circuit probe failed: the breaker stays open; this unit waits with the others, no attempt spent', {
      error: outcome.kind === 'failed' ? outcome.error.message : undefined,
      retryInMs,
    });
    return { kind: 'held', retryInMs, reason: 'circuit open' };
  }
  return outcome;
}
