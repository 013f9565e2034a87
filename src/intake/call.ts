/**
 * Runs one of the receiver's scripts (intake-script.ts) and, with `redis.waitReplicas: N`, makes
 * sure N replicas hold what it wrote before the caller may answer 200.
 *
 * WAIT counts the replicas that acknowledged every write made *on the connection it runs on*. So
 * the script and its WAIT must share one connection to the node that executed the script: on one
 * Redis or Sentinel that is the receiver's connection; on a cluster, the connection to the master
 * that owns the script's slot (cluster-route.ts). WAITs are grouped per connection
 * (replica-wait.ts).
 */
import type { Redis } from 'ioredis';
import { UnavailableError } from '../errors.js';
import { ClusterRoute, MARGIN_MS, type RoutedReply, type ScriptArgument } from './cluster-route.js';
import { isCluster } from '../redis/connection-kind.js';
import type { IntakeScript } from './script.js';
import type { RedisConnection } from '../redis/connection.js';
import { ReplicaWaits } from '../redis/replica-wait.js';

/** The longest a WAIT may block, leaving the rest of the 1.5 s budget for the script itself. */
export const WAIT_TIMEOUT_MS = 1_000;

type ScriptCommand = (...args: ScriptArgument[]) => Promise<unknown>;

export class IntakeCaller {
  private readonly waits: ReplicaWaits;
  /** Set on a cluster: where a write to be confirmed must go. */
  private readonly route: ClusterRoute | undefined;

  constructor(
    private readonly connection: RedisConnection,
    private readonly waitReplicas: number,
    scripts: readonly IntakeScript[],
  ) {
    this.waits = new ReplicaWaits(waitReplicas);
    this.route = isCluster(connection) ? new ClusterRoute(connection) : undefined;
    // defineCommand is ioredis' public way to run a script by its SHA; after a SCRIPT FLUSH or on a
    // new master it falls back to EVAL by itself, and the promise settles after that.
    for (const script of scripts) connection.defineCommand(script.command, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }

  /**
   * The script's reply. A 'replayed' verdict is returned as it is (nothing was written, so no
   * replica needs to hold anything).
   * @throws UnavailableError when fewer than waitReplicas replicas acknowledged before the deadline.
   */
  async run(script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[], deadline: number): Promise<unknown> {
    if (this.waitReplicas === 0) return this.call(script, keys, args);
    const { node, reply } = this.route
      ? await this.route.run(script, keys, args, deadline)
      : ({ node: this.connection as Redis, reply: await this.call(script, keys, args) } satisfies RoutedReply);
    if (reply === 'replayed') return reply;
    const timeoutMs = Math.max(1, Math.min(WAIT_TIMEOUT_MS, deadline - Date.now() - MARGIN_MS));
    const acknowledged = await this.waits.of(node).confirm(timeoutMs);
    if (acknowledged < this.waitReplicas) {
      throw new UnavailableError(undefined, new Error(`${acknowledged} of ${this.waitReplicas} replica(s) acknowledged the write within ${timeoutMs} ms`));
    }
    return reply;
  }

  private call(script: IntakeScript, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    const command = (this.connection as unknown as Record<string, ScriptCommand>)[script.command]!;
    return command.call(this.connection, ...keys, ...args);
  }
}
