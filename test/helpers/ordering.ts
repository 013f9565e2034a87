/**
 * Ordered-delivery tests: keyed callbacks (mix_stop, task_id = the key, seq = 1, 2, ...) sent through
 * a real receiver, a target that records every attempt with its answer, and the checks on what the
 * target saw: every key's deliveries one at a time and in order, or the inversions of a target
 * without ordering.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { APP_ID } from './config.js';
import type { TestRedis } from './redis.js';
import { startTargetServer, type Reply, type TargetServer } from './targets.js';
import { jsonBody, mixStopFields, sign } from './zego.js';

/** One request a target got. */
export interface Attempt {
  readonly key: string;
  readonly seq: number;
  /** Answered 2xx. */
  readonly ok: boolean;
  readonly callbackId: string;
}

export interface RecordingTarget {
  readonly server: TargetServer;
  /** Every request, in arrival order. */
  readonly attempts: Attempt[];
}

/** The key every test callback of `key` carries (task_id), as the relay names it. */
export const keyName = (key: string) => `${APP_ID}/task_id=${key}`;

/** A target answering each request as `answer` decides (by key, seq and the attempt's number for that callback). */
export async function recordingTarget(redis: TestRedis, answer: (key: string, seq: number, attempt: number) => Reply): Promise<RecordingTarget> {
  const attempts: Attempt[] = [];
  const tries = new Map<string, number>();
  const server = await startTargetServer((request) => {
    const body = JSON.parse(request.body.toString('utf8')) as { task_id: string; seq: string };
    const callbackId = String(request.headers['webhook-id']);
    const attempt = (tries.get(callbackId) ?? 0) + 1;
    tries.set(callbackId, attempt);
    const reply = answer(body.task_id, Number(body.seq), attempt);
    const status = 'status' in reply ? reply.status : 200;
    attempts.push({ key: body.task_id, seq: Number(body.seq), ok: status >= 200 && status < 300, callbackId });
    return reply;
  });
  redis.cleanup(() => server.close());
  return { server, attempts };
}

/** Fails `failureRate` of the attempts with 500, each answer after 0 to `maxLatencyMs`. */
export function unreliable(failureRate: number, maxLatencyMs: number) {
  return (): Reply => ({ status: Math.random() < failureRate ? 500 : 200, delayMs: Math.floor(Math.random() * maxLatencyMs) });
}

/** POSTs one signed callback of `key` with `seq`; expects 200 and returns the callback id. */
export async function sendKeyed(receiverUrl: string, key: string, seq: number): Promise<string> {
  const body = jsonBody(sign(mixStopFields({ task_id: key, seq: String(seq) })));
  const response = await fetch(receiverUrl, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const answer = (await response.json()) as { id: string };
  expect(response.status).toBe(200);
  return answer.id;
}

/**
 * Each key's `perKey` callbacks one after another (each waits for the previous 200), the keys in
 * parallel. `gapMs` between a key's callbacks: with several intake shards the relay orders by the
 * millisecond of acknowledgement, and two callbacks of a key in the same millisecond may go either way.
 */
export async function sendKeys(receiverUrl: string, keys: readonly string[], perKey: number, gapMs = 0): Promise<void> {
  await Promise.all(
    keys.map(async (key) => {
      for (let seq = 1; seq <= perKey; seq += 1) {
        if (seq > 1 && gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
        await sendKeyed(receiverUrl, key, seq);
      }
    }),
  );
}

/** Waits until every key's seq 1..perKey was answered 2xx at least once. */
export async function allDelivered(target: RecordingTarget, keys: readonly string[], perKey: number, timeout = 60_000): Promise<void> {
  const missing = () => {
    const delivered = new Set(target.attempts.filter((attempt) => attempt.ok).map((attempt) => `${attempt.key}#${attempt.seq}`));
    return keys.flatMap((key) => Array.from({ length: perKey }, (_unused, index) => `${key}#${index + 1}`)).filter((id) => !delivered.has(id)).length;
  };
  await expect.poll(missing, { timeout, interval: 100 }).toBe(0);
}

/** Each key's 2xx deliveries, by seq, in arrival order. */
export function deliveredInOrder(attempts: readonly Attempt[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const attempt of attempts) if (attempt.ok) byKey.set(attempt.key, [...(byKey.get(attempt.key) ?? []), attempt.seq]);
  return byKey;
}

/**
 * What breaks one-at-a-time order, per key: an attempt of an earlier callback after a later one
 * was tried, or a callback tried before every earlier one was delivered (`skipped`: seqs never
 * delivered by design, e.g. dead-lettered). A repeat of the callback in flight (after a crash) is
 * allowed as long as nothing later was tried yet.
 */
export function orderViolations(attempts: readonly Attempt[], skipped: ReadonlySet<string> = new Set()): string[] {
  const violations: string[] = [];
  const state = new Map<string, { highest: number; delivered: Set<number> }>();
  for (const attempt of attempts) {
    const key = state.get(attempt.key) ?? { highest: 0, delivered: new Set<number>() };
    state.set(attempt.key, key);
    if (attempt.seq < key.highest) violations.push(`${attempt.key}: seq ${attempt.seq} tried after seq ${key.highest}`);
    for (let earlier = 1; earlier < attempt.seq; earlier += 1) {
      if (!key.delivered.has(earlier) && !skipped.has(`${attempt.key}#${earlier}`)) {
        violations.push(`${attempt.key}: seq ${attempt.seq} tried before seq ${earlier} was delivered`);
        break;
      }
    }
    key.highest = Math.max(key.highest, attempt.seq);
    if (attempt.ok) key.delivered.add(attempt.seq);
  }
  return violations;
}

/** Keys whose 2xx deliveries did not arrive in seq order. */
export function invertedKeys(attempts: readonly Attempt[]): string[] {
  return [...deliveredInOrder(attempts)].filter(([, seqs]) => seqs.some((seq, index) => index > 0 && seq < seqs[index - 1]!)).map(([key]) => key);
}

/** Stores each [key, seq] as a callback in the intake (no receiver), in that order; returns their ids. */
export async function storeKeyed(config: RelayConfig, pairs: readonly (readonly [string, number])[]): Promise<string[]> {
  const store = CallbackStore.open(config, silentLogger);
  const ids: string[] = [];
  try {
    for (const [key, seq] of pairs) {
      const callbackId = `cb_${randomUUID().replace(/-/g, '')}`;
      const body = JSON.stringify({ appid: APP_ID, event: 'mix_stop', task_id: key, seq: String(seq) });
      expect(await store.store({ callbackId, event: 'mix_stop', appId: APP_ID, replayKey: randomUUID(), body }, Date.now())).toBe('stored');
      ids.push(callbackId);
    }
  } finally {
    await store.close();
  }
  return ids;
}
