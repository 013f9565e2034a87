/**
 * Where a receiver's script runs on a Redis Cluster when it must be confirmed by WAIT
 * (intake-call.ts): on the connection to the master that owns the script's first key's slot,
 * used directly rather than through the cluster's routing, which would not say where a write went.
 *
 * Only ioredis' public API: the slot owners are read with CLUSTER SLOTS (our own copy of the
 * map, read again after a MOVED or a lost master), and the connection to the owner is the one
 * `cluster.nodes()` holds for that address. When the cluster client has no connection to the
 * owner yet (a promoted replica it never met, a new shard), one read of the key through the
 * cluster's own routing meets the MOVED that makes ioredis connect to it. A MOVED answer, or a
 * slot whose master is gone (a failover, a resharding), sends the script again, within the
 * caller's deadline.
 *
 * Tested in `npm test` on a two-node cluster (test/integration/cluster-route.test.ts: a slot that changes
 * owner, an owner the client never met), and by the failover suites of `npm run test:cluster`
 * (test/cluster/), which kill masters; see docs/TESTING.md for why it is outside the mutation
 * scopes.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { UnavailableError } from '../errors.js';
import { withTimeout } from '../lib/with-timeout.js';
import type { IntakeScript } from './script.js';
import { keySlot } from './key-slot.js';

/** Kept free before the caller's deadline for the answers to travel back. */
export const MARGIN_MS = 100;
/** Between two slot-map reads while a failover is under way. */
const REFRESH_PAUSE_MS = 100;
const SLOTS = 16_384;
/** The longest one node is asked for the slot map before the next is. */
const ASK_MS = 500;

export type ScriptArgument = string | number;

/** The master connection that ran the script, and the script's reply. */
export interface RoutedReply {
  node: Redis;
  reply: unknown;
}

export class ClusterRoute {
  private readonly shas = new Map<IntakeScript, string>();
  /** `host:port` of each slot's master, as CLUSTER SLOTS last said; undefined: read it again. */
  private owners: readonly (string | undefined)[] | undefined;
  /** One read of the slot map shared by every script that needs it at the same moment. */
  private reading: Promise<readonly (string | undefined)[] | undefined> | undefined;

  constructor(private readonly cluster: Cluster) {}

  /** Runs `script` on the master owning `keys[0]`'s slot, following failovers until `deadline`. */
  async run(script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[], deadline: number): Promise<RoutedReply> {
    for (;;) {
      const node = await this.nodeFor(keys[0]!, deadline);
      try {
        if (!node) throw new UnavailableError(undefined, new Error(`no master is known for slot ${keySlot(keys[0]!)}`));
        return { node, reply: await this.evalOn(node, script, keys, args) };
      } catch (error) {
        // A master that died is dropped from the cluster's pool (its connection closes); its
        // replica takes the slots over within seconds.
        const gone = !node || isGone(node);
        if ((gone || isMoved(error)) && Date.now() < deadline - MARGIN_MS - REFRESH_PAUSE_MS) {
          this.owners = undefined;
          if (gone) await new Promise((resolve) => setTimeout(resolve, REFRESH_PAUSE_MS));
          continue;
        }
        throw error;
      }
    }
  }

  /** The connection to the master owning the key's slot (none while its master is gone). */
  private async nodeFor(key: string, deadline: number): Promise<Redis | undefined> {
    const owners = (this.owners ??= await (this.reading ??= this.readOwners(deadline).finally(() => (this.reading = undefined))));
    const owner = owners?.[keySlot(key)];
    if (owner === undefined) return undefined;
    const connection = () => this.cluster.nodes('all').find((node) => address(node) === owner && !isGone(node));
    const known = connection();
    if (known) return known;
    // A read through the cluster's routing: its MOVED makes ioredis connect to the new owner.
    await bounded(this.cluster.exists(key), deadline).catch(() => undefined);
    return connection();
  }

  /** The slot map, from the first node that answers CLUSTER SLOTS (undefined when none does in time). */
  private async readOwners(deadline: number): Promise<readonly (string | undefined)[] | undefined> {
    const live = this.cluster.nodes('all').filter((node) => !isGone(node));
    // Connected nodes first: one that is reconnecting would hold the question until it is back.
    for (const node of [...live.filter((node) => node.status === 'ready'), ...live.filter((node) => node.status !== 'ready')]) {
      try {
        return slotOwners((await bounded(node.call('CLUSTER', 'SLOTS'), deadline, ASK_MS)) as ClusterSlotsReply, String(node.options.host));
      } catch {
        // That node is gone or not answering: ask the next.
      }
    }
    return undefined;
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

/** Within the caller's deadline (less the margin), and `atMostMs` if given. */
function bounded<T>(work: Promise<T>, deadline: number, atMostMs = Infinity): Promise<T> {
  const ms = Math.max(0, Math.min(atMostMs, deadline - MARGIN_MS - Date.now()));
  return withTimeout(work, ms, () => new Error(`no answer within ${ms} ms`));
}

const address = (node: Redis) => `${node.options.host}:${node.options.port}`;

/** A connection that closed for good (a master that died is dropped from the cluster's pool). */
function isGone(node: Redis): boolean {
  return node.status === 'end' || node.status === 'close';
}

/** CLUSTER SLOTS: `[start, end, [host, port, id, ...] of the master, ...replicas]` per range. */
export type ClusterSlotsReply = readonly (readonly [number, number, readonly [string, number, ...unknown[]], ...unknown[]])[];

/**
 * Slot -> `host:port` of its master. A node that does not know its own address answers an empty
 * host, which means the host it was asked on (as ioredis reads it).
 */
export function slotOwners(reply: ClusterSlotsReply, askedHost: string): (string | undefined)[] {
  const owners = new Array<string | undefined>(SLOTS).fill(undefined);
  for (const [start, end, [host, port]] of reply) {
    const owner = `${host || askedHost}:${port}`;
    for (let slot = start; slot <= end; slot += 1) owners[slot] = owner;
  }
  return owners;
}
