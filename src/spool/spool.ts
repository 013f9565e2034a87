/**
 * The receiver's outage spool: while Redis cannot confirm a write, a callback is appended to a
 * local file and fsynced (append-log.ts) before the receiver answers 200; the drain (drain.ts)
 * later moves the records into Redis through the same intake script, oldest first, and the
 * segments it has moved are deleted.
 *
 * In memory: the records not yet drained, oldest first (where each is on disk, and its callback id
 * and replay key for the index), the index (spool-index.ts) and the bytes on disk. All of it is
 * rebuilt from the files at start-up (segment-files.ts), so a receiver that died with callbacks
 * in its spool drains them after its restart, whether Redis is up by then or not.
 */
import { mkdir, open } from 'node:fs/promises';
import type { RelayConfig } from '../config/load.js';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { spoolBytes, spoolCallbacks, spooledTotal } from '../shared/metrics.js';
import type { CallbackToStore } from '../intake/callback-store.js';
import { AppendLog } from './append-log.js';
import { SpoolDirectoryBusyError, lockSpoolDirectory, type SpoolLock } from './lock.js';
import { decodeRecord, encodeRecord, type SpooledCallback } from './record.js';
import { deleteSegment, listSegments, recoverSegment, segmentPath } from './segment-files.js';
import { SpoolIndex, indexKeys, type IndexKeys } from './spool-index.js';

export type SpoolSettings = Exclude<RelayConfig['spool'], false>;

/** What `offer` did with a callback; it throws UnavailableError when it could not spool it. */
export type OfferOutcome = 'spooled' | 'duplicate' | 'replayed';

export interface SpoolStatus {
  /** Records not yet drained into Redis. */
  readonly callbacks: number;
  /** Bytes of the spool's files. */
  readonly bytes: number;
  /** False once it refused a callback (full, or the disk failed) until it has room or writes again, and once closed. */
  readonly accepting: boolean;
}

/** A record on its way to Redis: where it is on disk, and its keys in the index (its body stays on disk). */
export interface SpoolEntry {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
  readonly keys: IndexKeys;
}

/** A record read back for the drain; `spooled` undefined when its bytes no longer decode. */
export interface ReadBack {
  readonly entry: SpoolEntry;
  readonly spooled: SpooledCallback | undefined;
}

/** Segments: big enough that a fsync writes many records, small enough to be deleted soon after draining. */
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

export class Spool {
  private readonly index = new SpoolIndex();
  /** Not yet drained, oldest first, from `head` on. */
  private entries: SpoolEntry[] = [];
  private head = 0;
  /** Segment -> its bytes on disk and its records not yet drained. */
  private readonly segments = new Map<number, { bytes: number; undrained: number }>();
  private bytesOnDisk = 0;
  /** Offered, not yet on disk (or failed): the spool is not empty while any is. */
  private appending = 0;
  private appendingBytes = 0;
  private refusing: 'full' | 'failing' | undefined;
  private wakeDrain: (() => void) | undefined;
  private closed = false;

  private constructor(
    readonly settings: SpoolSettings,
    private readonly log: AppendLog,
    private readonly lock: SpoolLock,
    private readonly logger: Logger,
  ) {}

  /** Opens (and locks) the spool directory and reads back whatever the last run left in it. */
  static async open(settings: SpoolSettings, logger: Logger): Promise<Spool> {
    const log = logger.child({ component: 'spool' });
    let lock: SpoolLock;
    try {
      await mkdir(settings.dir, { recursive: true });
      lock = await lockSpoolDirectory(settings.dir, log);
    } catch (error) {
      if (error instanceof SpoolDirectoryBusyError) throw error;
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new Error(`cannot use the spool directory ${settings.dir} (${reason}): make it writable for this user, set spool.dir, or turn the spool off (spool: false)`);
    }
    try {
      const found = await listSegments(settings.dir);
      const segmentBytes = Math.max(1, Math.min(MAX_SEGMENT_BYTES, Math.floor(settings.maxBytes / 8)));
      const spool = new Spool(settings, new AppendLog(settings.dir, (found.at(-1) ?? 0) + 1, segmentBytes), lock, log);
      for (const [position, segment] of found.entries()) {
        const recovered = await recoverSegment(settings.dir, segment, position === found.length - 1, log);
        spool.segments.set(segment, { bytes: recovered.bytes, undrained: 0 });
        spool.bytesOnDisk += recovered.bytes;
        for (const record of recovered.records) spool.add({ segment, offset: record.offset, length: record.length, keys: indexKeys(record.spooled.callback) });
      }
      await spool.deleteDrainedSegments();
      spool.updateGauges();
      if (!spool.isEmpty) log.info({ dir: settings.dir, callbacks: spool.count }, 'the spool holds callbacks from the last run; they go to Redis as soon as it answers');
      return spool;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Nothing spooled and nothing on its way to the spool: callbacks may go straight to Redis. */
  get isEmpty(): boolean {
    return this.count === 0 && this.appending === 0;
  }

  status(): SpoolStatus {
    return { callbacks: this.count, bytes: this.bytesOnDisk, accepting: !this.closed && this.refusing === undefined && this.bytesOnDisk < this.settings.maxBytes };
  }

  /**
   * Spools a callback (resolves once it is fsynced), or says it is a duplicate or a replay of what
   * the spool holds.
   * @throws UnavailableError when the spool is full or cannot write (the receiver answers 503).
   */
  async offer(callback: CallbackToStore, receivedAt: number): Promise<OfferOutcome> {
    const keys = indexKeys(callback);
    const verdict = this.index.verdict(keys);
    if (verdict === 'replayed' || verdict === 'duplicate') return verdict;
    if (verdict === 'new') {
      await this.append(callback, receivedAt, keys);
      spooledTotal.inc();
      return 'spooled';
    }
    // A re-send of a spooled callback: that callback is safe on disk already. Its fresh nonce is
    // spooled to be bound at drain time, as the intake script binds it, when there is room.
    await this.append(callback, receivedAt, keys).catch(() => {});
    return 'duplicate';
  }

  /** Appends one record and indexes it once it is fsynced. */
  private async append(callback: CallbackToStore, receivedAt: number, keys: IndexKeys): Promise<void> {
    const record = encodeRecord({ callback, receivedAt });
    if (this.closed) throw new UnavailableError();
    if (this.bytesOnDisk + this.appendingBytes + record.length > this.settings.maxBytes) {
      this.refuse('full', undefined);
      throw new UnavailableError(undefined, new Error(`the spool is full (spool.maxBytes ${this.settings.maxBytes} bytes)`));
    }
    this.appending += 1;
    this.appendingBytes += record.length;
    try {
      const placement = await this.log.append(record);
      this.bytesOnDisk += record.length;
      const segment = this.segments.get(placement.segment);
      if (segment) segment.bytes += record.length;
      else this.segments.set(placement.segment, { bytes: record.length, undrained: 0 });
      this.add({ ...placement, length: record.length, keys });
      this.accepting();
    } catch (error) {
      this.refuse('failing', error);
      throw new UnavailableError(undefined, error);
    } finally {
      this.appending -= 1;
      this.appendingBytes -= record.length;
      this.updateGauges();
    }
  }

  /** The oldest records not yet drained (at most `max`, from one segment), read back from disk. */
  async oldest(max: number): Promise<ReadBack[]> {
    const first = this.entries[this.head];
    if (!first) return [];
    const batch: SpoolEntry[] = [];
    for (let index = this.head; index < this.entries.length && batch.length < max; index++) {
      const entry = this.entries[index]!;
      if (entry.segment !== first.segment) break;
      batch.push(entry);
    }
    const start = first.offset;
    const last = batch.at(-1)!;
    const buffer = Buffer.alloc(last.offset + last.length - start);
    const handle = await open(segmentPath(this.settings.dir, first.segment), 'r');
    try {
      await handle.read(buffer, 0, buffer.length, start);
    } finally {
      await handle.close();
    }
    return batch.map((entry) => {
      const decoded = decodeRecord(buffer.subarray(0, entry.offset - start + entry.length), entry.offset - start);
      return { entry, spooled: decoded.kind === 'record' ? decoded.spooled : undefined };
    });
  }

  /** The oldest `count` records are in Redis (or given up): forgets them, deletes what is drained. */
  async drained(count: number): Promise<void> {
    for (const entry of this.entries.slice(this.head, this.head + count)) {
      this.index.remove(entry.keys);
      this.segments.get(entry.segment)!.undrained -= 1;
    }
    this.head += count;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    await this.deleteDrainedSegments();
    this.updateGauges();
  }

  /** Resolves when the spool holds a record, or after `timeoutMs`. */
  async whenNotEmpty(timeoutMs: number): Promise<void> {
    // Not `isEmpty`: with a record on its way but none spooled yet, the drain must wait for it
    // here, not loop back at once (a loop of resolved promises starves the fsync it waits for).
    if (this.count > 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      const previous = this.wakeDrain;
      function finish() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeDrain = () => {
        previous?.();
        finish();
      };
    });
  }

  /** Takes no more callbacks, lets the writes in flight finish, releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.log.close();
    await this.lock.release();
  }

  private get count(): number {
    return this.entries.length - this.head;
  }

  private add(entry: SpoolEntry): void {
    this.entries.push(entry);
    this.index.add(entry.keys);
    this.segments.get(entry.segment)!.undrained += 1;
    const wake = this.wakeDrain;
    this.wakeDrain = undefined;
    wake?.();
  }

  /**
   * Deletes the oldest segments whose records are all drained, but never the one appends go to
   * unless the spool is empty: then it is sealed first, and the next spooled callback starts a new
   * segment.
   */
  private async deleteDrainedSegments(): Promise<void> {
    for (const [segment, state] of [...this.segments].sort(([a], [b]) => a - b)) {
      if (state.undrained > 0) return;
      if (segment === this.log.activeSegment) {
        if (!this.isEmpty) return;
        await this.log.whenIdle();
        if (!this.isEmpty || segment !== this.log.activeSegment) return;
        await this.log.seal();
      }
      this.segments.delete(segment);
      this.bytesOnDisk -= state.bytes;
      await deleteSegment(this.settings.dir, segment);
      // Room again; should the next callback still not fit, that is said again.
      if (this.refusing === 'full') this.accepting();
    }
  }

  private refuse(reason: 'full' | 'failing', error: unknown): void {
    if (this.refusing === reason) return;
    this.refusing = reason;
    if (reason === 'full') {
      this.logger.error({ dir: this.settings.dir, maxBytes: this.settings.maxBytes, callbacks: this.count }, 'the spool is full: callbacks are answered 503 until it drains');
    } else {
      this.logger.error({ dir: this.settings.dir, err: error }, 'cannot write to the spool: callbacks are answered 503 while Redis cannot take them');
    }
  }

  private accepting(): void {
    if (this.refusing === undefined) return;
    this.refusing = undefined;
    this.logger.info({ dir: this.settings.dir }, 'the spool takes callbacks again');
  }

  private updateGauges(): void {
    spoolCallbacks.set(this.count);
    spoolBytes.set(this.bytesOnDisk);
  }
}
