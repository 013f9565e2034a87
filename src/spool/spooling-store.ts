/**
 * The receiver's store with the spool behind it: a callback goes straight to Redis while it can,
 * and to the spool when Redis cannot confirm it (down, refusing, too slow) or must not get it yet.
 */
import { UnavailableError } from '../errors.js';
import type { CallbackStore, CallbackToStore, StoreOutcome } from '../intake/callback-store.js';
import type { Spool } from './spool.js';

/** What the receiver answers from: Redis's verdict, or `spooled` (fsynced in the spool, 200). */
export type IntakeOutcome = StoreOutcome | 'spooled';

export type WritePath = 'redis' | 'spool';

export interface WriteState {
  /** The spool holds callbacks not yet drained (or is writing some). */
  readonly spoolHolds: boolean;
  /** The store's connection to Redis is up. */
  readonly redisConnected: boolean;
}

/**
 * Where a callback goes:
 * - the spool while it holds anything: a callback acknowledged later must not reach Redis before
 *   one acknowledged earlier, so Redis's order stays the order of the 200s (the drain keeps it);
 * - the spool while Redis is not connected: answered at once, rather than after the store's
 *   1.5 s deadline for every callback of an outage;
 * - Redis otherwise (and the spool if that write fails): while Redis answers the spool costs nothing.
 */
export function writePath(state: WriteState): WritePath {
  return state.spoolHolds || !state.redisConnected ? 'spool' : 'redis';
}

export class SpoolingStore {
  constructor(
    private readonly redis: Pick<CallbackStore, 'store' | 'connection'>,
    private readonly spool: Spool,
  ) {}

  /** @throws UnavailableError when neither Redis nor the spool can take it (the receiver answers 503). */
  async store(callback: CallbackToStore, receivedAt: number): Promise<IntakeOutcome> {
    const state = { spoolHolds: !this.spool.isEmpty, redisConnected: this.redis.connection.status === 'ready' };
    if (writePath(state) === 'redis') {
      try {
        return await this.redis.store(callback, receivedAt);
      } catch (error) {
        if (!(error instanceof UnavailableError)) throw error;
      }
    }
    return this.spool.offer(callback, receivedAt);
  }
}
