/**
 * The scale-out tests' measuring stick: a ZEGO-like sender (ZEGO's retries, scaled down) pushes
 * signed callbacks at one or more receivers while the test kills a Redis node; afterwards every
 * callback answered 200 must reach the target, and the report says how many were lost, how many
 * were delivered twice and when the relay answered 503 (relative to the kill).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { TargetServer } from './targets.js';
import { callbackKey, ZegoSender } from './zego-sender.js';
import { APP_ID, SECRET } from './config.js';

export interface FailoverReport {
  readonly callbacks: number;
  /** Callbacks the sender saw a 200 for. */
  readonly acknowledged: number;
  /** Acknowledged callbacks the target never received. */
  readonly lost: readonly string[];
  /** Deliveries beyond the first of each callback. */
  readonly duplicates: number;
  /** Tries answered 503, and the first and last of them in ms after the kill. */
  readonly unavailable: number;
  readonly unavailableWindowMs?: readonly [number, number];
  /** Tries that got no answer within the sender's 2 s, in ms after the kill (the relay must never hang). */
  readonly timeoutsMs: readonly number[];
  /**
   * The longest this process's event loop was blocked (ms): the relay under test and the sender
   * share it, so a stall shows up as sender timeouts that the relay's own timings do not have.
   */
  readonly eventLoopMaxMs: number;
  /** Callbacks the sender gave up on (no 200 within ZEGO's retries). */
  readonly givenUp: number;
  readonly answers: Readonly<Record<string, number>>;
}

export interface FailoverRun {
  /** The relay's receivers; tries go to them in turn. */
  readonly receiverUrls: readonly string[];
  readonly target: TargetServer;
  readonly count: number;
  readonly perSecond: number;
  /** Kills the node; called once half of the callbacks were sent. */
  readonly kill: () => Promise<unknown>;
  /** How long to wait for the target to have every acknowledged callback. @defaultValue 60000 */
  readonly settleMs?: number;
}

/** Runs the sender, kills mid-run, waits for deliveries to settle and reports. */
export async function runThroughFailover(run: FailoverRun): Promise<FailoverReport> {
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  const senders = run.receiverUrls.map((url) => new ZegoSender({ url, appId: APP_ID, secret: SECRET, events: ['mix_stop'], retryScale: 0.1, resendRatio: 0.05 }));
  const share = Math.ceil(run.count / senders.length);
  const sending = Promise.all(senders.map((sender) => sender.run(share, run.perSecond / senders.length)));
  const sent = () => senders.reduce((sum, sender) => sum + sender.callbacks.size, 0);
  await expect.poll(sent, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual((share * senders.length) / 2);
  const killedAt = Date.now();
  await run.kill();
  await sending;
  loop.disable();

  const callbacks = senders.flatMap((sender) => [...sender.callbacks.values()]);
  const acknowledged = callbacks.filter((callback) => callback.acknowledgedId !== undefined);
  const received = () => new Set(run.target.requests.flatMap((request) => callbackKey(request.body) ?? []));
  const missing = () => acknowledged.filter((callback) => !received().has(callback.key)).map((callback) => callback.key);
  // Deliveries of what is still stored keep coming; stop waiting once nothing is missing.
  const deadline = Date.now() + (run.settleMs ?? 60_000);
  while (missing().length > 0 && Date.now() < deadline) await sleep(250);

  const tries = callbacks.flatMap((callback) => callback.tries);
  const unavailable = tries.filter((attempt) => attempt.answer === 503).map((attempt) => (attempt.at ?? killedAt) - killedAt);
  const answers: Record<string, number> = {};
  for (const attempt of tries) answers[String(attempt.answer)] = (answers[String(attempt.answer)] ?? 0) + 1;
  const deliveries = run.target.requests.filter((request) => callbackKey(request.body) !== undefined).length;
  return {
    callbacks: callbacks.length,
    acknowledged: acknowledged.length,
    lost: missing(),
    duplicates: deliveries - received().size,
    unavailable: unavailable.length,
    ...(unavailable.length > 0 ? { unavailableWindowMs: [Math.min(...unavailable), Math.max(...unavailable)] as const } : {}),
    timeoutsMs: tries.filter((attempt) => attempt.answer === 'timeout').map((attempt) => (attempt.at ?? killedAt) - killedAt),
    eventLoopMaxMs: Math.round(loop.max / 1e6),
    givenUp: callbacks.length - acknowledged.length,
    answers,
  };
}
