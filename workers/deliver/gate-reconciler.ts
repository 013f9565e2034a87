/**
 * The key gate's reconciler: it mends what a process dying between two steps of ordered delivery
 * leaves (docs/RELIABILITY.md, "Ordered delivery per key"). A head released or admitted longer
 * ago than the grace (delivery.lockDuration) is looked at: released but still delayed (the promote
 * was lost) is promoted; completed, failed or removed without its key being released is finished;
 * anything else is looked at again later, less often the longer it runs. One process at a time
 * (a turn in Redis), at start and every delivery.stalledInterval; every action is idempotent.
 */
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Logger } from '../../src/lib/logger.js';
import { intakeKeys } from '../../src/shared/names.js';
import type { RedisConnection } from '../../src/redis/connection.js';
import { promoteHeld, type FinishOutcome, type GateHead, type KeyGate } from '../../src/targets/key-gate.js';
import { positionEntry } from '../../src/targets/order-position.js';

/** What to do about a head the reconciler looks at. */
export type HeadRepair =
  | { readonly kind: 'promote' }
  | { readonly kind: 'finish'; readonly outcome: FinishOutcome }
  | { readonly kind: 'later' };

/** Heads looked at per turn; the rest wait for the next turn. */
const HEADS_PER_TURN = 500;
/** The longest wait before a head that runs on is looked at again. */
const MAX_RECHECK_MS = 3_600_000;

/**
 * The repair of a head whose job is in `jobState` (BullMQ's getJobState; 'unknown': no such job).
 * `entryPending`: the head's intake entry is still in the intake log (a router will queue its job).
 */
export function headRepair(head: Pick<GateHead, 'state'>, jobState: string, entryPending: boolean): HeadRepair {
  if (jobState === 'completed') return { kind: 'finish', outcome: 'delivered' };
  if (jobState === 'failed') return { kind: 'finish', outcome: 'dead' };
  if (jobState === 'unknown') return entryPending ? { kind: 'later' } : { kind: 'finish', outcome: 'removed' };
  // Released but still held: its promote was lost. A running head that is delayed waits for its retry.
  if (jobState === 'delayed' && head.state === 'released') return { kind: 'promote' };
  return { kind: 'later' };
}

/** When to look again at a head that is fine: after as long as it has been running, within bounds. */
export function nextLook(head: Pick<GateHead, 'since'>, now: number, graceMs: number): number {
  return now + Math.min(MAX_RECHECK_MS, Math.max(graceMs, now - head.since));
}

export interface ReconcilerOptions {
  readonly gate: KeyGate;
  readonly queue: Queue;
  /** For reading the intake log (is a head's entry still there?). */
  readonly connection: RedisConnection;
  readonly prefix: string;
  readonly intervalMs: number;
  readonly log: Logger;
}

export interface GateReconciler {
  /** One turn now (tests); resolves with the repairs made. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts reconciling at once and every `intervalMs`. A failed turn is reported once per change. */
export function startGateReconciler(options: ReconcilerOptions): GateReconciler {
  const { gate, queue, log } = options;
  const owner = randomUUID();
  let failing = false;
  let running: Promise<number> | undefined;

  const entryPending = async (position: string | undefined): Promise<boolean> => {
    const entry = position === undefined ? undefined : positionEntry(position);
    if (!entry) return false;
    const stream = intakeKeys(options.prefix, entry.shard).stream;
    return (await options.connection.xrange(stream, entry.entryId, entry.entryId)).length > 0;
  };

  const repair = async (head: GateHead, now: number): Promise<boolean> => {
    const state = await queue.getJobState(head.jobId);
    const action = headRepair(head, state, state === 'unknown' && (await entryPending(head.position)));
    if (action.kind === 'later') {
      await gate.checkAgainAt(head.key, nextLook(head, now, gate.settings.graceMs));
      return false;
    }
    log.warn({ callbackId: head.jobId, key: head.key, jobState: state, repair: action.kind }, 'ordering: mended a key a stopped process left held');
    if (action.kind === 'promote') {
      await promoteHeld(queue, head.jobId);
      await gate.checkAgainAt(head.key, now + gate.settings.graceMs);
      return true;
    }
    const next = await gate.finish(head.key, head.jobId, action.outcome);
    if (next) await promoteHeld(queue, next);
    return true;
  };

  const turn = async (): Promise<number> => {
    if (!(await gate.takeReconcileTurn(owner, options.intervalMs))) return 0;
    const now = Date.now();
    let repaired = 0;
    for (const head of await gate.dueHeads(now, HEADS_PER_TURN)) if (await repair(head, now)) repaired += 1;
    return repaired;
  };

  const runOnce = (): Promise<number> => {
    running ??= turn()
      .then((repaired) => {
        if (failing) log.info('ordering: reconciling again');
        failing = false;
        return repaired;
      })
      .catch((error: unknown) => {
        if (!failing) log.warn({ err: error }, 'ordering: cannot reconcile the key gate for now');
        failing = true;
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  void runOnce();
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
