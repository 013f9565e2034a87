/**
 * The receiver's durable write. Each callback is one call of our own Lua script (intake-script.ts)
 * on one intake shard: replayed nonce, duplicate, or appended to the intake log. The cost does not
 * depend on how many targets there are: fanning out to the targets' queues is the router's work
 * (route/router.ts), after the 200. Any Redis error, or no answer within
 * PRODUCER_COMMAND_TIMEOUT_MS, is an UnavailableError (503), so ZEGO retries.
 */
import type { Redis } from 'ioredis';
import type { RelayConfig } from '../config/load.js';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { withTimeout } from '../lib/with-timeout.js';
import { INTAKE_COMMAND, INTAKE_SCRIPT } from './intake-script.js';
import { intakeKeys, shardOf } from '../shared/names.js';
import { readyWithin } from './ready.js';
import { PRODUCER_COMMAND_TIMEOUT_MS, createProducerConnection } from './redis.js';

/** What the receiver knows about a callback when it stores it. */
export interface CallbackToStore {
  callbackId: string;
  event: string;
  appId: string;
  nonce: string;
  /** The JSON body to deliver. */
  body: string;
}

/** `replayed`: the nonce came before with another callback id; nothing was written. */
export type StoreOutcome = 'stored' | 'duplicate' | 'replayed';

type IntakeConnection = Redis & {
  [INTAKE_COMMAND](
    nonceKey: string,
    seenKey: string,
    streamKey: string,
    callbackId: string,
    nonceTtlSeconds: number,
    dedupeSeconds: number,
    event: string,
    appId: string,
    body: string,
    receivedAt: number,
  ): Promise<string>;
};

/** A Redis Stream entry id, `<ms>-<seq>`. */
const STREAM_ID = /^\d+-\d+$/;

/** Writes callbacks to the intake log. One instance per receiver process. */
export class CallbackStore {
  private readonly writer: IntakeConnection;
  private readonly nonceTtlSeconds: number;
  private readonly dedupeSeconds: number;

  /**
   * @param connection - a producer connection (createProducerConnection): no offline queue, short
   *   command timeout. The store owns it and closes it in `close()`. Auto-pipelining sends the
   *   scripts of concurrent callbacks in one socket write.
   */
  constructor(
    private readonly config: RelayConfig,
    readonly connection: Redis,
    private readonly logger: Logger,
  ) {
    // A nonce must stay bound while a captured (timestamp, nonce, signature) could still pass the
    // timestamp check: the tolerance on both sides, plus a margin for clock steps.
    this.nonceTtlSeconds = 2 * config.zego.timestampToleranceSeconds + 60;
    this.dedupeSeconds = Math.max(1, Math.ceil(config.zego.dedupeWindow / 1000));
    // defineCommand is ioredis' public way to run a script by its SHA; after a SCRIPT FLUSH it
    // falls back to EVAL by itself.
    connection.defineCommand(INTAKE_COMMAND, { numberOfKeys: 3, lua: INTAKE_SCRIPT });
    this.writer = connection as IntakeConnection;
    this.watchConnection();
  }

  /** A store on a new producer connection. */
  static open(config: RelayConfig, logger: Logger): CallbackStore {
    return new CallbackStore(config, createProducerConnection(config.redis.url, 'receiver', { enableAutoPipelining: true }), logger);
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
    try {
      await this.connection.quit();
    } catch {
      this.connection.disconnect();
    }
  }

  private async write(callback: CallbackToStore, receivedAt: number, deadline: number): Promise<StoreOutcome> {
    await this.connected(deadline);
    // Past the deadline the caller has answered 503 already: don't write after the fact.
    if (Date.now() >= deadline) throw new UnavailableError();
    const keys = intakeKeys(this.config.redis.prefix, shardOf(callback.callbackId, this.config.intake.shards));
    const verdict = await this.writer[INTAKE_COMMAND](
      keys.nonce(callback.nonce),
      keys.seen(callback.callbackId),
      keys.stream,
      callback.callbackId,
      this.nonceTtlSeconds,
      this.dedupeSeconds,
      callback.event,
      callback.appId,
      callback.body,
      receivedAt,
    );
    if (verdict === 'replayed' || verdict === 'duplicate') return verdict;
    // 'stored' only with the new entry's stream id in hand: the script returns one only after its
    // XADD succeeded. Anything else is no proof of a write, so ZEGO must retry.
    if (typeof verdict === 'string' && STREAM_ID.test(verdict)) return 'stored';
    throw new UnavailableError(undefined, new Error(`unexpected answer from the intake script: ${String(verdict).slice(0, 40)}`));
  }

  /**
   * The connection connects on its own after the store is built; without an offline queue a
   * command sent before it is ready fails. store()'s deadline bounds this wait while Redis is down.
   */
  private connected(deadline: number): Promise<void> {
    return readyWithin(this.connection, deadline - Date.now());
  }

  /** One warning when Redis goes away and one line when it is back, not one per reconnect attempt. */
  private watchConnection(): void {
    let healthy = true;
    this.connection.on('error', (error: Error) => {
      if (!healthy) return;
      healthy = false;
      this.logger.warn({ err: error }, 'Redis is unreachable; callbacks are answered 503 until it is back');
    });
    this.connection.on('ready', () => {
      if (healthy) return;
      healthy = true;
      this.logger.info('Redis is reachable again');
    });
  }
}
