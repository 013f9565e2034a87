/**
 * The names every part agrees on: queue names, Redis key layout and the payloads stored under them.
 * This module imports nothing of the project's, so config, receiver, router, workers and admin can
 * all use it without pulling each other (or BullMQ) in.
 *
 * Key layout, ready for Redis Cluster: every key one Lua call touches on a cluster shares one hash
 * tag (`{...}`), so the call stays on one slot; each target's queue has a hash tag of its own, so
 * queues spread over the masters.
 *   {PREFIX:intake:N}:stream        the intake log of shard N (a Redis Stream, consumer group `routers`)
 *   {PREFIX:intake:N}:seen:ID       present while callback ID is remembered (dedupeWindow)
 *   {PREFIX:replay:SIGNATURE}       the callback id a verified signature first came with (replay
 *                                   defense: the signature stands for the exact text ZEGO signed, so
 *                                   any spelling of that timestamp and nonce finds it). Its own tag,
 *                                   placed by the signature alone: a replay with another body has
 *                                   another callback id, maybe another shard, and must still find it;
 *                                   and adding shards never moves it. On one Redis (or Sentinel) it
 *                                   is part of the intake call; on a cluster it is bound by a call of
 *                                   its own first (callback-store.ts says why that is safe).
 *   {PREFIX:deliver-NAME}:deliver-NAME:...   BullMQ's keys of target NAME's queue
 *   {PREFIX:deliver-NAME}:ordering:...       the key gate of an ordered target (src/targets/key-gate-scripts.ts)
 *   {PREFIX:deliver-NAME}:delivered          the latest deliveries to target NAME (a capped Stream,
 *                                            src/targets/delivery-record.ts)
 *   {PREFIX:unrouted}:unrouted:...           callbacks that matched no target
 *   {PREFIX:rejected}                         the latest rejected requests (a capped list)
 *   {PREFIX:poisoned}                         intake entries a router could not route (a capped list)
 */

/** The queue of one target's deliveries. BullMQ forbids ':' in queue names. */
export function deliveryQueueName(targetName: string): string {
  return `deliver-${targetName}`;
}

/**
 * The hash tag of a target's own keys beside its queue (breaker, key gate, delivery record), so
 * they share the queue's slot. Braces in the prefix or the name are dropped: exactly one tag.
 */
export function targetTag(prefix: string, targetName: string): string {
  return `{${`${prefix}:${deliveryQueueName(targetName)}`.replace(/[{}]/g, '')}}`;
}

/** Callbacks that matched no target: kept (and counted), never dropped. */
export const UNROUTED_QUEUE = 'unrouted';

/**
 * The BullMQ prefix of one queue: the relay's prefix and the queue name in one hash tag, so all of
 * a queue's keys share a slot and different queues can live on different cluster nodes.
 */
export function queuePrefix(prefix: string, queueName: string): string {
  return `{${prefix}:${queueName}}`;
}

/** The list of the latest rejected requests: its own hash tag, under the configured prefix. */
export function rejectedKey(prefix: string): string {
  return `{${prefix}:rejected}`;
}

/** Intake entries no router can route, set aside for an operator: their own hash tag, under the prefix. */
export function poisonedKey(prefix: string): string {
  return `{${prefix}:poisoned}`;
}

/** The consumer group every router reads the intake with. */
export const ROUTER_GROUP = 'routers';

/** The keys of one intake shard; all share the shard's hash tag. */
export function intakeKeys(prefix: string, shard: number) {
  const tag = `{${prefix}:intake:${shard}}`;
  return {
    stream: `${tag}:stream`,
    seen: (callbackId: string) => `${tag}:seen:${callbackId}`,
  };
}

/**
 * The key binding a signed (timestamp, nonce) to the first callback id it came with, named by
 * its verified signature in lower case (the receiver's `replayKey`). Not the raw nonce: ZEGO signs
 * the sorted strings joined with no separator, so a shorter nonce and a longer timestamp can sign
 * the same text. Not keyed by app (ZEGO's signature covers no app id, so it is bound across all
 * apps), nor by shard (see above).
 */
export function replayKey(prefix: string, signature: string): string {
  return `{${prefix}:replay:${signature}}`;
}

/**
 * The shard of a callback: from its id (`cb_` + hex SHA-256), so every receiver puts the same
 * callback, and its re-sends, on the same shard.
 */
export function shardOf(callbackId: string, shards: number): number {
  if (shards <= 1) return 0;
  const hex = callbackId.startsWith('cb_') ? callbackId.slice(3, 11) : '';
  const value = /^[0-9a-f]{8}$/.test(hex) ? Number.parseInt(hex, 16) : fnv1a(callbackId);
  return value % shards;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The payload of every delivery job (and of an unrouted callback). */
export interface DeliveryJobData {
  /** The callback id: `webhook-id`, the same on every retry and every target. */
  callbackId: string;
  event: string;
  appId: string;
  /** The JSON body to POST: the exact text ZEGO sent, or a JSON object of a form's fields. */
  body: string;
  /** When the receiver acknowledged it to ZEGO (ms since epoch): end-to-end latency starts here. */
  receivedAt: number;
  /**
   * The callback's trace context (`traceparent`, then a space and `tracestate` if any), set only
   * while the receiver traced it: every attempt's span joins that trace (src/trace/context-field.ts).
   */
  traceContext?: string;
  /** Only on a target with `ordering`, for a callback that carries a key field. */
  order?: OrderTag;
}

/** Where an ordered delivery stands in its key's order (src/targets/key-gate.ts). */
export interface OrderTag {
  /** The key, shown in Bull Board: `APPID/FIELD=VALUE`. */
  key: string;
  /** Its position when the router queued it (src/targets/order-position.ts). */
  at: string;
}
