/**
 * The key gate of one ordered target: which delivery of each key may be attempted now. Every part
 * that makes attempts uses it the same way (docs/RELIABILITY.md, "Ordered delivery per key"):
 *   enter   (router)  deliveries in position order: each released, held, or done (finished before);
 *   advance (router)  a shard's watermark moved: the first deliveries now released;
 *   admit   (worker)  may this one be attempted now: go, hold, or gone (not in the gate);
 *   finish  (worker)  this one is done (delivered, dead-lettered, removed): the next one released.
 * Whoever gets a released delivery back that is a delayed (held) job promotes it (promoteHeld).
 * The state is our own Redis keys under the target queue's hash tag, changed only by the scripts
 * of key-gate-scripts.ts, each atomic; every call is idempotent, so a crash between two of them
 * leaves a state the next call, or the reconciler (gate-reconciler.ts), carries on from.
 */
import { once } from 'node:events';
import { Job, type Queue } from 'bullmq';
import type { RelayConfig } from '../config/load.js';
import type { RedisConnection } from '../redis/connection.js';
import { withScripts } from '../redis/scripts.js';
import { targetTag } from '../shared/names.js';
import { ADMIT, ADVANCE, ENTER, FINISH, FINISH_MANY, REENTER } from './key-gate-scripts.js';

/**
 * How long a held delivery stays in BullMQ's delayed state before its hold is checked again (and
 * renewed): far beyond any release, short enough that a hold can never be lost for good.
 */
export const HELD_DELAY_MS = 24 * 3_600_000;

/**
 * The Redis key prefix of a target's gate: its queue's hash tag (braces in the prefix or the name
 * dropped, so the key carries exactly one tag), like the breaker's key.
 */
export function gateBase(prefix: string, targetName: string): string {
  return `${targetTag(prefix, targetName)}:ordering`;
}

/** One delivery as the gate knows it. */
export interface GateMember {
  /** The key (`111111/task_id=...`). */
  readonly key: string;
  /** Its position (order-position.ts). */
  readonly position: string;
  /** Its job id: the callback id. */
  readonly jobId: string;
}

export type EnterStatus = 'released' | 'held' | 'done';
export type Admission = 'go' | 'hold' | 'gone';
export type FinishOutcome = 'delivered' | 'dead' | 'removed';

export interface GateHead {
  readonly key: string;
  /** released: may run, not yet picked up; running: admitted by a worker. */
  readonly state: 'released' | 'running';
  /** When it was released or admitted (Redis clock, ms). */
  readonly since: number;
  readonly jobId: string;
  /** Its position (undefined when it finished meanwhile). */
  readonly position?: string;
}

export interface GateStats {
  /** Keys with an unfinished delivery. */
  readonly keys: number;
  /** Keys with a delivery waiting behind an earlier one. */
  readonly heldKeys: number;
  /** Deliveries waiting behind an earlier one of their key. */
  readonly held: number;
}

export interface GateSettings {
  /** intake.shards: the barrier is the lowest watermark of them all. */
  readonly shards: number;
  /** A head older than this is looked at by the reconciler (delivery.lockDuration). */
  readonly graceMs: number;
  /** How long a key remembers its last finished position (a late re-entry is refused). */
  readonly lastTtlMs: number;
  /** How long a key's parked dead letters are remembered (retention.deadLetterAge). */
  readonly deadTtlMs: number;
}

/** The gate settings of every target, from the configuration. */
export function gateSettings(config: RelayConfig): GateSettings {
  return {
    shards: config.intake.shards,
    graceMs: config.delivery.lockDuration,
    // A router stalled this long with a batch in hand could enter a finished delivery again.
    lastTtlMs: Math.max(config.zego.dedupeWindow, 3_600_000),
    deadTtlMs: config.retention.deadLetterAge,
  };
}

interface GateCommands {
  zegoRelayGateEnter(heads: string, ...args: (string | number)[]): Promise<[EnterStatus[], string[]]>;
  zegoRelayGateAdvance(heads: string, ...args: (string | number)[]): Promise<string[]>;
  zegoRelayGateAdmit(heads: string, ...args: (string | number)[]): Promise<Admission>;
  zegoRelayGateFinish(heads: string, ...args: (string | number)[]): Promise<[string, string?]>;
  zegoRelayGateFinishMany(heads: string, ...args: (string | number)[]): Promise<string[]>;
  zegoRelayGateReenter(heads: string, ...args: (string | number)[]): Promise<string | null>;
}

/** Our scripts as commands of the connection (defined once per connection). */
const withCommands = (connection: RedisConnection) =>
  withScripts<GateCommands>(connection, {
    zegoRelayGateEnter: ENTER, zegoRelayGateAdvance: ADVANCE, zegoRelayGateAdmit: ADMIT, zegoRelayGateFinish: FINISH, zegoRelayGateFinishMany: FINISH_MANY, zegoRelayGateReenter: REENTER,
  });

/** `STATE|SINCE|JOBID` as the heads hash holds it. */
export function parseHead(key: string, value: string | null | undefined): GateHead | undefined {
  if (!value) return undefined;
  const bar = value.indexOf('|', 2);
  if (bar < 0) return undefined;
  return { key, state: value[0] === 'a' ? 'running' : 'released', since: Number(value.slice(2, bar)), jobId: value.slice(bar + 1) };
}

/** `POSITION|JOBID` members of a key's sorted sets. */
function parseMember(member: string): { position: string; jobId: string } {
  const bar = member.indexOf('|');
  return { position: member.slice(0, bar), jobId: member.slice(bar + 1) };
}

export class KeyGate {
  private readonly redis: RedisConnection & GateCommands;
  readonly base: string;
  private readonly heads: string;
  private connecting: Promise<void> | undefined;

  constructor(connection: RedisConnection, prefix: string, targetName: string, readonly settings: GateSettings) {
    this.redis = withCommands(connection);
    this.base = gateBase(prefix, targetName);
    this.heads = `${this.base}:heads`;
  }

  /**
   * Enters deliveries (sorted here by position). `own`: the watermark of the shard being routed,
   * read outside the batch, so the batch's first deliveries of free keys are released at once.
   * Returns each one's status (in the order given) and earlier deliveries this released.
   */
  async enter(members: readonly GateMember[], own?: { shard: number; watermark: string }): Promise<{ statuses: EnterStatus[]; released: string[] }> {
    if (members.length === 0) return { statuses: [], released: [] };
    const order = members.map((_member, index) => index).sort((a, b) => (members[a]!.position < members[b]!.position ? -1 : 1));
    const args = order.flatMap((index) => [members[index]!.key, members[index]!.position, members[index]!.jobId]);
    await this.connected();
    const [sortedStatuses, released] = await this.redis.zegoRelayGateEnter(
      this.heads, this.base, this.settings.shards, own?.shard ?? -1, own?.watermark ?? '', this.settings.graceMs, ...args,
    );
    const statuses: EnterStatus[] = new Array(members.length);
    order.forEach((index, sorted) => (statuses[index] = sortedStatuses[sorted]!));
    return { statuses, released };
  }

  /** Records a shard's watermark; returns the deliveries it released. */
  async advance(shard: number, watermark: string): Promise<string[]> {
    await this.connected();
    return this.redis.zegoRelayGateAdvance(this.heads, this.base, this.settings.shards, shard, watermark, this.settings.graceMs);
  }

  async admit(key: string, jobId: string): Promise<Admission> {
    await this.connected();
    return this.redis.zegoRelayGateAdmit(this.heads, this.base, key, jobId, this.settings.graceMs);
  }

  /** Whether `jobId` is its key's head now (read only: for a job that was just held). */
  async isHead(key: string, jobId: string): Promise<boolean> {
    await this.connected();
    return parseHead(key, await this.redis.hget(this.heads, key))?.jobId === jobId;
  }

  /** Drops a finished delivery; returns the next one of its key, if that was released. */
  async finish(key: string, jobId: string, outcome: FinishOutcome): Promise<string | undefined> {
    await this.connected();
    const { shards, graceMs, lastTtlMs, deadTtlMs } = this.settings;
    const [, next] = await this.redis.zegoRelayGateFinish(this.heads, this.base, shards, key, jobId, outcome, graceMs, lastTtlMs, deadTtlMs);
    return next ?? undefined;
  }

  /** Drops several finished deliveries in one call; returns for each the next one of its key, if released. */
  async finishMany(finished: readonly { key: string; jobId: string }[], outcome: FinishOutcome): Promise<(string | undefined)[]> {
    if (finished.length === 0) return [];
    await this.connected();
    const { shards, graceMs, lastTtlMs, deadTtlMs } = this.settings;
    const args = finished.flatMap(({ key, jobId }) => [key, jobId]);
    const nexts = await this.redis.zegoRelayGateFinishMany(this.heads, this.base, shards, outcome, graceMs, lastTtlMs, deadTtlMs, ...args);
    return nexts.map((next) => next || undefined);
  }

  /** A key's parked dead letters, by original position. */
  async parked(key: string): Promise<{ position: string; jobId: string }[]> {
    await this.connected();
    return (await this.redis.zrange(`${this.base}:dead:${key}`, 0, -1)).map(parseMember);
  }

  /**
   * Replayed dead letters enter their key again, behind its unfinished deliveries, in the order
   * given (`position`: the one they were dead-lettered at). Returns the delivery released, if any.
   */
  async reenter(key: string, members: readonly { position: string; jobId: string }[]): Promise<string | undefined> {
    await this.connected();
    const args = members.flatMap((member) => [member.position, member.jobId]);
    return (await this.redis.zegoRelayGateReenter(this.heads, this.base, this.settings.shards, key, this.settings.graceMs, ...args)) ?? undefined;
  }

  /** Heads the reconciler should look at now (at most `limit`). */
  async dueHeads(now: number, limit: number): Promise<GateHead[]> {
    await this.connected();
    const keys = await this.redis.zrangebyscore(`${this.base}:check`, '-inf', now, 'LIMIT', 0, limit);
    if (keys.length === 0) return [];
    const values = await this.redis.hmget(this.heads, ...keys);
    const heads = keys.flatMap((key, index) => parseHead(key, values[index]) ?? []);
    if (heads.length === 0) return [];
    const positions = await this.redis.hmget(`${this.base}:at`, ...heads.map((head) => head.jobId));
    return heads.map((head, index) => (positions[index] ? { ...head, position: positions[index] } : head));
  }

  /** Looks at `key`'s head again at `at` (only while it still has one). */
  async checkAgainAt(key: string, at: number): Promise<void> {
    await this.connected();
    await this.redis.zadd(`${this.base}:check`, 'XX', at, key);
  }

  /** One process reconciles at a time: true when this call took the turn for `ms`. */
  async takeReconcileTurn(owner: string, ms: number): Promise<boolean> {
    await this.connected();
    return (await this.redis.set(`${this.base}:reconcile`, owner, 'PX', ms, 'NX')) === 'OK';
  }

  async stats(): Promise<GateStats> {
    await this.connected();
    const [members, keys, heldKeys] = (await this.redis.hmget(`${this.base}:stats`, 'members', 'keys', 'heldKeys')).map((value) => Number(value ?? 0));
    return { keys: keys!, heldKeys: heldKeys!, held: Math.max(0, members! - keys!) };
  }

  /**
   * Waits for a connection still connecting (a fail-fast one refuses commands before it is ready);
   * callers on such a connection bound the wait. One listener per gate.
   */
  private async connected(): Promise<void> {
    if (this.redis.status === 'ready') return;
    this.connecting ??= once(this.redis, 'ready').then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
  }
}

/**
 * Moves a held (delayed) delivery to the queue's waiting list with BullMQ's public `promote()`.
 * The handle is built from the id alone (Job's public constructor): promote needs nothing else,
 * and reading the whole job first would cost a round trip per release. A job no longer delayed
 * (already promoted, running, finished) or gone is left alone: true when it was promoted.
 */
export async function promoteHeld(queue: Queue, jobId: string): Promise<boolean> {
  try {
    await new Job(queue, 'held', {}, {}, jobId).promote();
    return true;
  } catch (error) {
    if (error instanceof Error && /not in the delayed state|Missing key/i.test(error.message)) return false;
    throw error;
  }
}
