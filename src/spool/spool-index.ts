/**
 * What the spool holds, by callback id and by replay key, so that while Redis is away a re-send of
 * a spooled callback is answered `duplicate` and a replay key that comes back with another
 * callback is refused, as the intake script would (src/intake/script.ts). Pure, in memory;
 * rebuilt from the spool's files at start-up.
 *
 * It knows only what the spool holds: a callback stored in Redis before the outage and re-sent
 * during it is spooled again (the drain then finds it a duplicate), and a replay of a key bound in
 * Redis shows only at drain time.
 */
import type { CallbackToStore } from '../intake/callback-store.js';

/**
 * The value the replay defence binds to the first callback it came with: the one place that says
 * which field of a callback that is.
 */
export function replayKeyOf(callback: CallbackToStore): string {
  return callback.replayKey;
}

/** What the index keeps of a spooled record (its body stays on disk). */
export interface IndexKeys {
  readonly callbackId: string;
  readonly replayKey: string;
}

export function indexKeys(callback: CallbackToStore): IndexKeys {
  return { callbackId: callback.callbackId, replayKey: replayKeyOf(callback) };
}

/**
 * - `new`: nothing of it is spooled: spool it;
 * - `duplicate`: spooled already, and its replay key is bound to it already: nothing to write;
 * - `resend`: spooled already, with another replay key: spool the re-send too, so that the drain
 *   binds that key in Redis as the intake script binds a re-send's fresh nonce;
 * - `replayed`: its replay key is bound to another callback: refuse it.
 */
export type SpoolVerdict = 'new' | 'duplicate' | 'resend' | 'replayed';

export class SpoolIndex {
  /** Callback id -> how many spooled records hold it. */
  private readonly callbacks = new Map<string, number>();
  /** Replay key -> the callback it is bound to, and how many spooled records hold the pair. */
  private readonly replayKeys = new Map<string, { readonly callbackId: string; records: number }>();

  verdict({ callbackId, replayKey }: IndexKeys): SpoolVerdict {
    const bound = this.replayKeys.get(replayKey);
    if (bound && bound.callbackId !== callbackId) return 'replayed';
    if (!this.callbacks.has(callbackId)) return 'new';
    return bound ? 'duplicate' : 'resend';
  }

  add({ callbackId, replayKey }: IndexKeys): void {
    this.callbacks.set(callbackId, (this.callbacks.get(callbackId) ?? 0) + 1);
    const bound = this.replayKeys.get(replayKey);
    // Bound to another callback: two spooled at once with one key; the drain refuses the later one.
    if (!bound) this.replayKeys.set(replayKey, { callbackId, records: 1 });
    else if (bound.callbackId === callbackId) bound.records += 1;
  }

  /** Forgets one record (drained into Redis). */
  remove({ callbackId, replayKey }: IndexKeys): void {
    const records = this.callbacks.get(callbackId) ?? 0;
    if (records <= 1) this.callbacks.delete(callbackId);
    else this.callbacks.set(callbackId, records - 1);
    const bound = this.replayKeys.get(replayKey);
    if (!bound || bound.callbackId !== callbackId) return;
    if (bound.records <= 1) this.replayKeys.delete(replayKey);
    else bound.records -= 1;
  }
}
