/**
 * The circuit breaker's parts without a worker: the shared state in Redis (breaker-store.ts, our
 * own Lua on a real Redis) and one process's view of it (breaker.ts, with its clock injected).
 * test/integration/breaker.test.ts proves the whole breaker through real workers and targets; these prove each
 * rule on its own, fast: when it opens (enough failures AND long enough), who probes and when,
 * what a success ends, when a process may skip Redis, and what it logs. The flaky sequence here
 * is the second, independent proof that a target failing half the time never opens it.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { BreakerPolicy } from '../../src/config/load.js';
import { TargetBreaker } from '../../workers/deliver/breaker.js';
import { BreakerStore, breakerKey, type Admission, type BreakerSnapshot, type FailureVerdict } from '../../src/targets/breaker-store.js';
import { recordingLogger } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();

function connection(options: { lazyConnect?: boolean; enableOfflineQueue?: boolean } = {}): Redis {
  const client = new Redis(redis.url, options);
  redis.cleanup(async () => client.disconnect());
  return client;
}

/** A store on its own prefix. */
function storeOf(client: Redis = connection()): BreakerStore {
  return new BreakerStore(client, `breaker-test-${randomUUID()}`, 'billing');
}

const policy = (overrides: Partial<BreakerPolicy> = {}): BreakerPolicy => ({ openAfter: 0, minFailures: 3, probeInterval: 60_000, ...overrides });

/** Counts the Redis calls a TargetBreaker makes (the real store underneath). */
class CountingStore extends BreakerStore {
  readonly calls: string[] = [];
  override snapshot(): Promise<BreakerSnapshot> {
    this.calls.push('snapshot');
    return super.snapshot();
  }
  override admit(given: BreakerPolicy): Promise<Admission> {
    this.calls.push('admit');
    return super.admit(given);
  }
  override recordSuccess(): Promise<number | undefined> {
    this.calls.push('recordSuccess');
    return super.recordSuccess();
  }
  override recordFailure(given: BreakerPolicy, error: string): Promise<FailureVerdict> {
    this.calls.push('recordFailure');
    return super.recordFailure(given, error);
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('BreakerStore: the shared state', () => {
  it('stays closed below minFailures, and opens at the failure that reaches it', async () => {
    const store = storeOf();
    const given = policy({ minFailures: 3 });
    expect(await store.recordFailure(given, 'e1')).toEqual({ state: 'closed', failures: 1 });
    expect(await store.recordFailure(given, 'e1')).toEqual({ state: 'closed', failures: 2 });
    expect(await store.snapshot()).toEqual({ open: false, failures: 2 });
    expect(await store.recordFailure(given, 'e1')).toEqual({ state: 'opened', failures: 3 });
    const snapshot = await store.snapshot();
    expect(snapshot).toMatchObject({ open: true, failures: 3 });
    expect(Math.abs(snapshot.openedAt! - Date.now())).toBeLessThan(5_000);
  });

  it('does not open before openAfter has passed since the first failure of the streak, however many failed', async () => {
    const store = storeOf();
    const given = policy({ minFailures: 1, openAfter: 300 });
    const first = Date.now();
    for (let i = 0; i < 5; i += 1) expect((await store.recordFailure(given, 'e')).state).toBe('closed');
    let verdict: FailureVerdict;
    do {
      await pause(20);
      verdict = await store.recordFailure(given, 'e');
    } while (verdict.state === 'closed');
    expect(verdict.state).toBe('opened');
    // Redis' clock and this one agree to a few ms on one machine.
    expect(Date.now() - first).toBeGreaterThanOrEqual(290);
  });

  it('once open, counts further failures and says when the error changed', async () => {
    const store = storeOf();
    const given = policy({ minFailures: 1 });
    expect(await store.recordFailure(given, 'HTTP 503')).toEqual({ state: 'opened', failures: 1 });
    expect(await store.recordFailure(given, 'HTTP 503')).toEqual({ state: 'open', failures: 2, changed: false });
    expect(await store.recordFailure(given, 'connection refused')).toEqual({ state: 'open', failures: 3, changed: true });
    expect(await store.recordFailure(given, 'connection refused')).toEqual({ state: 'open', failures: 4, changed: false });
  });

  it('admits everything while closed; while open, one probe per probeInterval and holds the rest until it is due', async () => {
    const store = storeOf();
    const given = policy({ minFailures: 1, probeInterval: 400 });
    expect(await store.admit(given)).toEqual({ kind: 'deliver' });
    await store.recordFailure(given, 'e');
    // The first probe is due a probeInterval after the opening.
    const held = await store.admit(given);
    expect(held.kind).toBe('hold');
    expect((held as { ms: number }).ms).toBeGreaterThan(200);
    expect((held as { ms: number }).ms).toBeLessThanOrEqual(400);
    await pause((held as { ms: number }).ms);
    await expect.poll(() => store.admit(given), { interval: 20 }).toEqual({ kind: 'probe' });
    // The next one a probeInterval after that probe.
    const next = await store.admit(given);
    expect(next.kind).toBe('hold');
    expect((next as { ms: number }).ms).toBeGreaterThan(200);
  });

  it('ends the streak on a success: says how long it had been open, or nothing if it was closed', async () => {
    const store = storeOf();
    const given = policy({ minFailures: 2 });
    expect(await store.recordSuccess()).toBeUndefined();
    await store.recordFailure(given, 'e');
    expect(await store.recordSuccess()).toBeUndefined();
    // The streak starts again from zero: one more failure is not enough.
    expect(await store.recordFailure(given, 'e')).toEqual({ state: 'closed', failures: 1 });
    expect(await store.recordFailure(given, 'e')).toEqual({ state: 'opened', failures: 2 });
    await pause(30);
    const openFor = await store.recordSuccess();
    expect(openFor).toBeGreaterThanOrEqual(25);
    expect(openFor).toBeLessThan(5_000);
    expect(await store.snapshot()).toEqual({ open: false, failures: 0 });
    expect(await store.admit(given)).toEqual({ kind: 'deliver' });
  });

  it('starts the next streak\'s clock at its own first failure, not at a failure before the success', async () => {
    const store = storeOf();
    const given = policy({ minFailures: 3, openAfter: 200 });
    await store.recordFailure(given, 'long ago');
    await store.recordSuccess();
    await pause(250);
    // Three quick failures: enough of them, but this streak is younger than openAfter.
    for (let i = 1; i <= 3; i += 1) expect(await store.recordFailure(given, 'e')).toEqual({ state: 'closed', failures: i });
  });

  it('keeps one key per target, with its own hash tag', async () => {
    const prefix = `breaker-test-${randomUUID()}`;
    const client = connection();
    expect(breakerKey('{zego-relay}', 'billing')).toBe('{zego-relay:deliver-billing}:breaker');
    await new BreakerStore(client, prefix, 'billing').recordFailure(policy(), 'e');
    expect(await client.hget(breakerKey(prefix, 'billing'), 'failures')).toBe('1');
    expect(await new BreakerStore(client, prefix, 'audit').snapshot()).toEqual({ open: false, failures: 0 });
  });

  it('waits for a connection that is still connecting instead of failing the call', async () => {
    // Fail-fast, as the relay's connections are: a command sent before it is ready is refused.
    const client = connection({ lazyConnect: true, enableOfflineQueue: false });
    const store = storeOf(client);
    const answer = store.recordFailure(policy(), 'e');
    expect(client.status).toBe('wait');
    await client.connect();
    expect(await answer).toEqual({ state: 'closed', failures: 1 });
    expect(await storeOf(client).snapshot()).toEqual({ open: false, failures: 0 });
    // And again after the connection was lost and is coming back.
    const ended = once(client, 'end');
    client.disconnect();
    await ended;
    const later = store.snapshot();
    await client.connect();
    expect(await later).toEqual({ open: false, failures: 1 });
  });
});

describe('TargetBreaker: one process\'s view', () => {
  const fixture = (overrides: Partial<BreakerPolicy> = {}) => {
    let now = 1_000_000;
    const prefix = `breaker-test-${randomUUID()}`;
    const store = new CountingStore(connection(), prefix, 'billing');
    const { logger, lines } = recordingLogger();
    const breaker = new TargetBreaker(store, policy(overrides), logger, () => now);
    /** The same target's state as another worker process sees it. */
    const elsewhere = new BreakerStore(connection(), prefix, 'billing');
    return { store, elsewhere, breaker, lines, tick: (ms: number) => (now += ms), messages: () => lines.map((line) => `${line.level} ${String(line.msg)}`) };
  };

  it('trusts a "closed, no streak" view for a fraction of openAfter (at least 50 ms, at most 1 s)', () => {
    const refreshOf = (openAfter: number) => fixture({ openAfter }).breaker.refreshMs;
    expect([refreshOf(0), refreshOf(100), refreshOf(200), refreshOf(203), refreshOf(1_000), refreshOf(4_000), refreshOf(300_000)]).toEqual([50, 50, 50, 50, 250, 1_000, 1_000]);
  });

  it('asks Redis until a success is seen, then admits without a Redis call while the view is fresh', async () => {
    const { store, breaker, tick } = fixture({ openAfter: 1_000 });
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(store.calls).toEqual(['admit']);
    expect(await breaker.delivered()).toBe(false);
    expect(store.calls).toEqual(['admit', 'recordSuccess']);
    store.calls.length = 0;
    tick(249);
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(await breaker.delivered()).toBe(false);
    expect(store.calls).toEqual([]);
    // Stale: one read, shared by every admission that finds it stale at once; closed, so no admit call.
    tick(1);
    expect(await Promise.all([breaker.admit(), breaker.admit(), breaker.admit()])).toEqual([{ kind: 'deliver' }, { kind: 'deliver' }, { kind: 'deliver' }]);
    expect(store.calls).toEqual(['snapshot']);
    // Fresh again for as long, then one more read.
    tick(249);
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(store.calls).toEqual(['snapshot']);
    tick(1);
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(store.calls).toEqual(['snapshot', 'snapshot']);
  });

  it('records its success once its view is stale, ending a streak another process started', async () => {
    const { store, elsewhere, breaker, tick } = fixture({ openAfter: 1_000, minFailures: 100 });
    await breaker.admit();
    await breaker.delivered();
    await elsewhere.recordFailure(policy({ minFailures: 100 }), 'elsewhere');
    store.calls.length = 0;
    // Exactly refreshMs later the view is stale.
    tick(breaker.refreshMs);
    expect(await breaker.delivered()).toBe(false);
    expect(store.calls).toEqual(['recordSuccess']);
    expect(await elsewhere.snapshot()).toEqual({ open: false, failures: 0 });
  });

  it('asks Redis at once when the refreshed view shows a streak, and after every failure', async () => {
    const { store, elsewhere, breaker, tick } = fixture({ openAfter: 1_000, minFailures: 100 });
    await breaker.admit();
    await breaker.delivered();
    // Another process records a failure meanwhile: the next stale view shows the streak.
    await elsewhere.recordFailure(policy({ minFailures: 100 }), 'elsewhere');
    store.calls.length = 0;
    tick(300);
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(store.calls).toEqual(['snapshot', 'admit']);
    // And it keeps asking (the view now watches) until a success of its own.
    store.calls.length = 0;
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(store.calls).toEqual(['admit']);
    store.calls.length = 0;
    expect(await breaker.failed('e')).toBe('spent');
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(store.calls).toEqual(['recordFailure', 'admit']);
  });

  it('asks Redis when the read of its view fails', async () => {
    const { store, breaker, tick } = fixture({ openAfter: 1_000 });
    await breaker.admit();
    await breaker.delivered();
    tick(300);
    store.snapshot = async () => {
      throw new Error('Redis busy');
    };
    store.calls.length = 0;
    expect(await breaker.admit()).toEqual({ kind: 'deliver' });
    expect(store.calls).toEqual(['admit']);
  });

  it('reports an opening once as an error, a failing probe once per change of its error, and the closing', async () => {
    const { breaker, messages, lines } = fixture({ minFailures: 2, probeInterval: 10 });
    expect(await breaker.failed('HTTP 503')).toBe('spent');
    expect(await breaker.failed('HTTP 503')).toBe('opened');
    expect(await breaker.failed('HTTP 503')).toBe('held');
    expect(await breaker.failed('connection refused')).toBe('held');
    await expect.poll(() => breaker.admit(), { interval: 5 }).toEqual({ kind: 'probe' });
    expect(await breaker.delivered()).toBe(true);
    expect(await breaker.delivered()).toBe(false);
    expect(messages()).toEqual([
      '50 breaker opened: every attempt failed; deliveries are held (no attempt spent) and the target is probed',
      '20 breaker open: the probe failed again',
      '40 breaker open: the probe failed; deliveries stay held',
      '20 breaker open: probing the target with one delivery',
      '30 breaker closed: the target answered 2xx; its deliveries resume',
    ]);
    expect(lines[0]).toMatchObject({ breaker: 'open', failures: 2, openAfterMs: 0, probeIntervalMs: 10, error: 'HTTP 503' });
    expect(lines[1]).toMatchObject({ breaker: 'open', error: 'HTTP 503' });
    expect(lines[2]).toMatchObject({ breaker: 'open', error: 'connection refused' });
    expect(lines[3]).toMatchObject({ breaker: 'open' });
    expect(lines[4]).toMatchObject({ breaker: 'closed', openForMs: expect.any(Number) });
  });

  it('sees a breaker another process opened: holds, then probes', async () => {
    const { elsewhere, breaker, tick } = fixture({ openAfter: 1_000, minFailures: 1, probeInterval: 100 });
    await breaker.admit();
    await breaker.delivered();
    await elsewhere.recordFailure(policy({ minFailures: 1, probeInterval: 100 }), 'elsewhere');
    tick(300);
    expect((await breaker.admit()).kind).toBe('hold');
    await expect.poll(() => breaker.admit(), { interval: 10 }).toEqual({ kind: 'probe' });
  });

  it('a flaky target (every other attempt fails) never opens it, for many times openAfter; failing alone, it would', async () => {
    const { breaker, store } = fixture({ openAfter: 100, minFailures: 3 });
    const started = Date.now();
    let failures = 0;
    while (Date.now() - started < 600) {
      expect(await breaker.admit()).toEqual({ kind: 'deliver' });
      expect(await breaker.failed('HTTP 500')).toBe('spent');
      failures += 1;
      expect(await breaker.admit()).toEqual({ kind: 'deliver' });
      expect(await breaker.delivered()).toBe(false);
      await pause(15);
    }
    expect(failures).toBeGreaterThan(6);
    expect((await store.snapshot()).open).toBe(false);
    // The same pace of failures without the successes opens it: the run above could have.
    let verdict = await breaker.failed('HTTP 500');
    while (verdict === 'spent') {
      await pause(15);
      verdict = await breaker.failed('HTTP 500');
    }
    expect(verdict).toBe('opened');
  });
});
