/**
 * Runs one of the receiver's scripts (intake-script.ts) and, with `redis.waitReplicas: N`, makes
 * sure N replicas hold what it wrote before the caller may answer 200.
 *
 * With N > 0 the script and `WAIT N timeout` go in ONE pipeline, so both reach the same node (on a
 * cluster: the master of the script's slot; a keyless WAIT follows the pipeline's keyed command)
 * on the same connection, and WAIT counts the replicas that acknowledged every write that
 * connection made up to and including the script's. The script is sent as EVAL there, not
 * EVALSHA: after a failover the new master has no cached scripts, and ioredis would re-send a
 * NOSCRIPT'd EVALSHA on its own, after the WAIT, which would then not cover it.
 *
 * ioredis follows a MOVED redirection for a pipeline only when every command in it was redirected
 * or read-only; our WAIT (keyless) answers on any node, so after a failover the pipeline would keep
 * going to the old slot owner. On MOVED the slot map is refreshed (Cluster#refreshSlotsCache) and
 * the pipeline sent again, within the caller's deadline.
 */
import type { Cluster } from 'ioredis';
import { UnavailableError } from '../errors.js';
import { isCluster } from './connection-kind.js';
import type { IntakeScript } from './intake-script.js';
import type { RedisConnection } from './redis.js';

/** The longest a WAIT may block, leaving the rest of the 1.5 s budget for the script itself. */
export const WAIT_TIMEOUT_MS = 1_000;
/** Kept free before the caller's deadline for the answers to travel back. */
const MARGIN_MS = 100;

type ScriptArgument = string | number;
type ScriptCommand = (...args: ScriptArgument[]) => Promise<unknown>;

export class IntakeCaller {
  constructor(
    private readonly connection: RedisConnection,
    private readonly waitReplicas: number,
    scripts: readonly IntakeScript[],
  ) {
    // defineCommand is ioredis' public way to run a script by its SHA; after a SCRIPT FLUSH it
    // falls back to EVAL by itself.
    for (const script of scripts) connection.defineCommand(script.command, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }

  /**
   * The script's reply. A 'replayed' verdict is returned as it is (nothing was written, so no
   * replica needs to hold anything).
   * @throws UnavailableError when fewer than waitReplicas replicas acknowledged before the deadline.
   */
  async run(script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[], deadline: number): Promise<unknown> {
    if (this.waitReplicas === 0) {
      const command = (this.connection as unknown as Record<string, ScriptCommand>)[script.command]!;
      return command.call(this.connection, ...keys, ...args);
    }
    for (;;) {
      const timeoutMs = Math.max(1, Math.min(WAIT_TIMEOUT_MS, deadline - Date.now() - MARGIN_MS));
      const replies = (await this.connection
        .pipeline()
        .eval(script.lua, script.numberOfKeys, ...keys, ...args)
        .wait(this.waitReplicas, timeoutMs)
        .exec()) ?? [];
      const [[scriptError, verdict] = [], [waitError, acknowledged] = []] = replies;
      if (scriptError && isMoved(scriptError) && isCluster(this.connection) && Date.now() < deadline - MARGIN_MS) {
        await refreshSlots(this.connection);
        continue;
      }
      return this.verdictOf(scriptError, verdict, waitError, acknowledged, timeoutMs);
    }
  }

  private verdictOf(scriptError: Error | null | undefined, verdict: unknown, waitError: Error | null | undefined, acknowledged: unknown, timeoutMs: number): unknown {
    if (scriptError) throw scriptError;
    if (verdict === 'replayed') return verdict;
    if (waitError) throw waitError;
    if (typeof acknowledged !== 'number' || acknowledged < this.waitReplicas) {
      throw new UnavailableError(undefined, new Error(`${String(acknowledged)} of ${this.waitReplicas} replica(s) acknowledged the write within ${timeoutMs} ms`));
    }
    return verdict;
  }
}

/** A Redis Cluster redirection: the slot has another owner now (a failover, a resharding). */
function isMoved(error: Error): boolean {
  return error.message.startsWith('MOVED ');
}

function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}
