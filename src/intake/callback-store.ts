/**
 * The receiver's durable write. On one Redis (or Sentinel) each callback is one call of our own
 * Lua script (intake-script.ts) on one intake shard: replayed nonce, duplicate, or appended to the
 * intake log. On a Redis Cluster it is two: the nonce is bound on its own slot first, then the
 * callback is appended on its shard's (see write()). The cost does not depend on how many targets
 * there are: fanning out to the targets' queues is the router's work (workers/route/router.ts), after the
 * 200. With `redis.waitReplicas` the 200 also waits until that many replicas hold the write
 * (intake-call.ts). Any Redis error, or no answer within PRODUCER_COMMAND_TIMEOUT_MS, is an
 * UnavailableError: the receiver then spools the callback (src/spool), or answers 503 without a
 * spool, so ZEGO retries.
 */
import type { RelayConfig } from '../config/load.js';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { withTimeout } from '../lib/with-timeout.js';
import { IntakeCaller } from './call.js';
import { APPEND, BIND_NONCE, INTAKE, intakeVerdict, type StoreOutcome } from './script.js';
import { intakeKeys, replayKey, shardOf } from '../shared/names.js';
import { readyWithin } from '../redis/ready.js';
import { PRODUCER_COMMAND_TIMEOUT_MS, closeConnection, createProducerConnection, type RedisConnection } from '../redis/connection.js';
import { outageLog } from '../redis/outage.js';

/** What the receiver knows about a callback when it stores it. */
export interface CallbackToStore {
  callbackId: string;
  event: string;
  appId: string;
  /** What the replay defence binds to the callback id: the verified signature, lower case (names.ts replayKey). */
  replayKey: string;
  /** The JSON body to deliver. */
  body: string;
  /** The receiver's trace context of this callback, while tracing is on (DeliveryJobData.traceContext). */
  traceContext?: string;
}

export type { StoreOutcome };

/** Writes callbacks to the intake log. One instance per receiver process. */
export class CallbackStore {
  private readonly caller: IntakeCaller;
  /** A cluster: the nonce's slot is not the shard's, so the nonce is bound by a call of its own. */
  private readonly separateNonce: boolean;
  private readonly nonceTtlSeconds: number;
  private readonly dedupeSeconds: number;

  /**
   * @param connection - a producer connection (createProducerConnection): no offline queue, short
   *   command timeout. The store owns it and closes it in `close()`. Auto-pipelining sends the
   *   scripts of concurrent callbacks in one socket write.
   */
  constructor(
    private readonly config: RelayConfig,
    readonly connection: RedisConnection,
    private readonly logger: Logger,
  ) {
    // A nonce must stay bound while a captured (timestamp, nonce, signature) could still pass the
    // timestamp check: the tolerance on both sides, plus a margin for clock steps.
    this.nonceTtlSeconds = 2 * config.zego.timestampToleranceSeconds + 60;
    this.dedupeSeconds = Math.max(1, Math.ceil(config.zego.dedupeWindow / 1000));
    this.separateNonce = config.redis.topology.kind === 'cluster';
    this.caller = new IntakeCaller(connection, config.redis.waitReplicas, this.separateNonce ? [BIND_NONCE, APPEND] : [INTAKE]);
  }

  /** A store on a new producer connection. */
  static open(config: RelayConfig, logger: Logger): CallbackStore {
    const consequence = config.spool ? 'callbacks are spooled to disk until it is back' : 'callbacks are answered 503 until it is back';
    const outage = outageLog(logger, 'receiver', consequence);
    const connection = createProducerConnection(config.redis, { name: 'receiver', outage, overrides: { enableAutoPipelining: true } });
    return new CallbackStore(config, connection, logger);
  }

  /**
   * Stores a callback unless its nonce is replayed or it is already stored.
   * @throws UnavailableError when Redis does not confirm within PRODUCER_COMMAND_TIMEOUT_MS.
   */
  async store(callback: CallbackToStore, receivedAt = Date.now()): Promise<StoreOutcome> {
    // When the deadline wins, a write already sent may still commit later: harmless (ZEGO's retry
    // then gets `duplicate`). A write still waiting for the connection is never sent (connected).
    try {
      return await withTimeout(
        this.write(callback, receivedAt, Date.now() + PRODUCER_COMMAND_TIMEOUT_MS),
        PRODUCER_COMMAND_TIMEOUT_MS,
        () => new UnavailableError(undefined, new Error(`Redis did not answer within ${PRODUCER_COMMAND_TIMEOUT_MS} ms`)),
      );
    } catch (error) {
      throw error instanceof UnavailableError ? error : new UnavailableError(undefined, error);
    }
  }

  async close(): Promise<void> {
    await closeConnection(this.connection);
  }

  private async write(callback: CallbackToStore, receivedAt: number, deadline: number): Promise<StoreOutcome> {
    await this.connected(deadline);
    // Past the deadline the caller has answered 503 already: don't write after the fact.
    if (Date.now() >= deadline) throw new UnavailableError();
    const { prefix, waitReplicas } = this.config.redis;
    const keys = intakeKeys(prefix, shardOf(callback.callbackId, this.config.intake.shards));
    const nonce = replayKey(prefix, callback.replayKey);
    const args = [
      callback.callbackId, this.nonceTtlSeconds, this.dedupeSeconds, callback.event, callback.appId, callback.body, receivedAt,
      waitReplicas > 0 ? '1' : '0',
      // Only while tracing is on: with it off the entry (and the call) stay as they were.
      ...(callback.traceContext ? [callback.traceContext] : []),
    ];
    let verdict: unknown;
    if (this.separateNonce) {
      // Two calls, nonce first. Safe because:
      // - one key holds a nonce's binding and one atomic script sets it: a nonce is bound to at
      //   most one callback id, on whichever shard that callback's id falls;
      // - the append runs only after the nonce answered 'bound' for THIS callback id, so nothing is
      //   stored under a nonce bound to another body;
      // - a failure between the two leaves the nonce bound to this id and nothing stored: ZEGO's
      //   retry (same body, so same id; same or fresh nonce) passes the binding and stores it.
      if ((await this.caller.run(BIND_NONCE, [nonce], args, deadline)) === 'replayed') return 'replayed';
      if (Date.now() >= deadline) throw new UnavailableError();
      verdict = await this.caller.run(APPEND, [keys.seen(callback.callbackId), keys.stream], args, deadline);
    } else {
      verdict = await this.caller.run(INTAKE, [nonce, keys.seen(callback.callbackId), keys.stream], args, deadline);
    }
    // Anything but a verdict throws, and store() answers it as unavailable.
    return intakeVerdict(verdict);
  }

  /**
   * The connection connects on its own after the store is built; without an offline queue a
   * command sent before it is ready fails. store()'s deadline bounds this wait while Redis is down.
   */
  private connected(deadline: number): Promise<void> {
    return readyWithin(this.connection, deadline - Date.now());
  }
}
