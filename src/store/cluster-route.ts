/**
 * Where a receiver's script runs on a Redis Cluster when it must be confirmed by WAIT
 * (intake-call.ts): on the connection to the master that owns the script's first key's slot
 * (keySlot and the cluster's slot map), used directly rather than through the cluster's routing,
 * which would not say where a write went. A MOVED answer, or a slot whose master is gone (a
 * failover, a resharding), refreshes the slot map and the script is sent again, within the
 * caller's deadline.
 *
 * Tested by the failover suites of `npm run test:cluster` (test/cluster/), which start real
 * clusters and kill masters; see docs/TESTING.md for why it is outside the mutation scopes.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { UnavailableError } from '../errors.js';
import type { IntakeScript } from './intake-script.js';
import { keySlot } from './key-slot.js';

/** Kept free before the caller's deadline for the answers to travel back. */
export const MARGIN_MS = 100;
/** Between two slot-map refreshes while a failover is under way. */
const REFRESH_PAUSE_MS = 100;

export type ScriptArgument = string | number;

/** The master connection that ran the script, and the script's reply. */
export interface RoutedReply {
  node: Redis;
  reply: unknown;
}

export class ClusterRoute {
  private readonly shas = new Map<IntakeScript, string>();

  constructor(private readonly cluster: Cluster) {}

  /** Runs `script` on the master owning `keys[0]`'s slot, following failovers until `deadline`. */
  async run(script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[], deadline: number): Promise<RoutedReply> {
    for (;;) {
      const node = this.nodeFor(keys[0]!);
      try {
        if (!node) throw new UnavailableError(undefined, new Error(`no master is known for slot ${keySlot(keys[0]!)}`));
        return { node, reply: await this.evalOn(node, script, keys, args) };
      } catch (error) {
        // A master that died is dropped from the cluster's pool (its connection closes); its
        // replica takes the slots over within seconds.
        const gone = !node || node.status === 'end' || node.status === 'close';
        if ((gone || isMoved(error)) && Date.now() < deadline - MARGIN_MS - REFRESH_PAUSE_MS) {
          await refreshSlots(this.cluster);
          if (gone) await new Promise((resolve) => setTimeout(resolve, REFRESH_PAUSE_MS));
          continue;
        }
        throw error;
      }
    }
  }

  /** The master owning the key's slot (none while its master is gone). */
  private nodeFor(key: string): Redis | undefined {
    const owner = this.cluster.slots[keySlot(key)]?.[0];
    if (owner === undefined) return undefined;
    return this.cluster.nodes('master').find((master) => `${master.options.host}:${master.options.port}` === owner);
  }

  /**
   * EVALSHA, and EVAL when that master does not have the script (a promoted replica). Not
   * defineCommand: a command defined on a connection after ioredis started auto-pipelining on it
   * is missing from its pipeline, which then fails for good.
   */
  private async evalOn(node: Redis, script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    try {
      return await node.evalsha(this.sha(script), script.numberOfKeys, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      return node.eval(script.lua, script.numberOfKeys, ...keys, ...args);
    }
  }

  private sha(script: IntakeScript): string {
    let sha = this.shas.get(script);
    if (sha === undefined) {
      sha = createHash('sha1').update(script.lua).digest('hex');
      this.shas.set(script, sha);
    }
    return sha;
  }
}

/** A Redis Cluster redirection: the slot has another owner now. */
function isMoved(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('MOVED ');
}

function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}
