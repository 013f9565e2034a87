/**
 * Runs one of the receiver's scripts (intake-script.ts) and, with `redis.waitReplicas: N`, makes
 * sure N replicas hold what it wrote before the caller may answer 200.
 *
 * WAIT counts the replicas that acknowledged every write made *on the connection it runs on*. So
 * the script and its WAIT must share one connection to the node that executed the script: on one
 * Redis or Sentinel that is the receiver's connection; on a cluster, the connection to the master
 * that owns the script's slot (keySlot, and the cluster's slot map), used directly rather than
 * through the cluster's routing, which would not say where a write went. A MOVED answer, or a
 * slot whose master is gone (a failover, a resharding), refreshes the slot map and the script is
 * sent again, within the caller's deadline. WAITs are grouped per connection (replica-wait.ts).
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { UnavailableError } from '../errors.js';
import { isCluster } from './connection-kind.js';
import type { IntakeScript } from './intake-script.js';
import { keySlot } from './key-slot.js';
import type { RedisConnection } from './redis.js';
import { ReplicaWaits } from './replica-wait.js';

/** The longest a WAIT may block, leaving the rest of the 1.5 s budget for the script itself. */
export const WAIT_TIMEOUT_MS = 1_000;
/** Kept free before the caller's deadline for the answers to travel back. */
const MARGIN_MS = 100;
/** Between two slot-map refreshes while a failover is under way. */
const REFRESH_PAUSE_MS = 100;

type ScriptArgument = string | number;
type ScriptCommand = (...args: ScriptArgument[]) => Promise<unknown>;

export class IntakeCaller {
  private readonly waits: ReplicaWaits;
  private readonly shas = new Map<IntakeScript, string>();

  constructor(
    private readonly connection: RedisConnection,
    private readonly waitReplicas: number,
    scripts: readonly IntakeScript[],
  ) {
    this.waits = new ReplicaWaits(waitReplicas);
    // defineCommand is ioredis' public way to run a script by its SHA; after a SCRIPT FLUSH or on a
    // new master it falls back to EVAL by itself, and the promise settles after that.
    for (const script of scripts) {
      connection.defineCommand(script.command, { numberOfKeys: script.numberOfKeys, lua: script.lua });
      this.shas.set(script, createHash('sha1').update(script.lua).digest('hex'));
    }
  }

  /**
   * The script's reply. A 'replayed' verdict is returned as it is (nothing was written, so no
   * replica needs to hold anything).
   * @throws UnavailableError when fewer than waitReplicas replicas acknowledged before the deadline.
   */
  async run(script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[], deadline: number): Promise<unknown> {
    if (this.waitReplicas === 0) return this.call(this.connection, script, keys, args);
    for (;;) {
      const node = this.nodeFor(keys[0]!);
      let verdict: unknown;
      try {
        if (!node) throw new UnavailableError(undefined, new Error(`no master is known for slot ${keySlot(keys[0]!)}`));
        verdict = node === this.connection ? await this.call(node, script, keys, args) : await this.evalOn(node, script, keys, args);
      } catch (error) {
        // A master that died is dropped from the cluster's pool (its connection closes); its
        // replica takes the slots over within seconds.
        const gone = !node || node.status === 'end' || node.status === 'close';
        if (isCluster(this.connection) && (gone || isMoved(error)) && Date.now() < deadline - MARGIN_MS - REFRESH_PAUSE_MS) {
          await refreshSlots(this.connection);
          if (gone) await new Promise((resolve) => setTimeout(resolve, REFRESH_PAUSE_MS));
          continue;
        }
        throw error;
      }
      if (verdict === 'replayed') return verdict;
      const timeoutMs = Math.max(1, Math.min(WAIT_TIMEOUT_MS, deadline - Date.now() - MARGIN_MS));
      const acknowledged = await this.waits.of(node).confirm(timeoutMs);
      if (acknowledged < this.waitReplicas) {
        throw new UnavailableError(undefined, new Error(`${acknowledged} of ${this.waitReplicas} replica(s) acknowledged the write within ${timeoutMs} ms`));
      }
      return verdict;
    }
  }

  /** The connection the key's writes go through: the master owning its slot, on a cluster (none while its master is gone). */
  private nodeFor(key: string): Redis | undefined {
    if (!isCluster(this.connection)) return this.connection;
    const owner = this.connection.slots[keySlot(key)]?.[0];
    if (owner === undefined) return undefined;
    return this.connection.nodes('master').find((master) => `${master.options.host}:${master.options.port}` === owner);
  }

  private call(connection: RedisConnection, script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    const command = (connection as unknown as Record<string, ScriptCommand>)[script.command]!;
    return command.call(connection, ...keys, ...args);
  }

  /**
   * On one of a cluster's master connections: EVALSHA, and EVAL when that master does not have
   * the script (a promoted replica). Not defineCommand: a command defined on a connection after
   * ioredis started auto-pipelining on it is missing from its pipeline, which then fails for good.
   */
  private async evalOn(node: Redis, script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    try {
      return await node.evalsha(this.shas.get(script)!, script.numberOfKeys, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      return node.eval(script.lua, script.numberOfKeys, ...keys, ...args);
    }
  }
}

/** A Redis Cluster redirection: the slot has another owner now. */
function isMoved(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('MOVED ');
}

function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}
