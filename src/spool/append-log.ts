/**
 * Appending records to the spool's newest segment with group commit. While one write-and-fsync
 * runs, the records offered meanwhile wait and then go to disk together in the next one: N
 * concurrent callbacks cost about one disk flush, not N. A record's promise resolves only once
 * the fsync that covers it has returned, so a 200 is never answered for bytes the disk may not
 * hold.
 *
 * A new segment is started when the current one has grown past `segmentBytes` (so drained
 * segments can be deleted while appends go on), after `seal()`, and at every start (old segments
 * are only read and deleted).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { segmentPath, syncDirectory } from './segment-files.js';

/** Where an appended record landed. */
export interface Placement {
  readonly segment: number;
  readonly offset: number;
}

interface Waiting {
  readonly record: Buffer;
  readonly resolve: (placement: Placement) => void;
  readonly reject: (error: unknown) => void;
}

interface ActiveSegment {
  readonly segment: number;
  readonly handle: FileHandle;
  /** Bytes written and fsynced. */
  size: number;
}

export class AppendLog {
  private active: ActiveSegment | undefined;
  private waiting: Waiting[] = [];
  private flushing: Promise<void> | undefined;
  /** Write-and-fsyncs done: fewer than records appended, by the grouping. */
  syncs = 0;

  constructor(
    private readonly dir: string,
    private nextSegment: number,
    private readonly segmentBytes: number,
  ) {}

  /** Nothing waits to be written and no write runs. */
  get idle(): boolean {
    return this.flushing === undefined && this.waiting.length === 0;
  }

  /** The segment appends go to, until it is sealed or full. */
  get activeSegment(): number | undefined {
    return this.active?.segment;
  }

  /** Resolves once `record` is on disk (written and fsynced), with where it is. */
  append(record: Buffer): Promise<Placement> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      this.startFlushing();
    });
  }

  /** Resolves once nothing is being written. */
  async whenIdle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** The next append starts a new segment; the current one is closed (its file stays). Call while idle. */
  async seal(): Promise<void> {
    const sealed = this.active;
    this.active = undefined;
    await sealed?.handle.close();
  }

  async close(): Promise<void> {
    await this.whenIdle();
    await this.seal();
  }

  private startFlushing(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      // Offered after the loop's last look, before this ran.
      if (this.waiting.length > 0) this.startFlushing();
    });
  }

  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0);
      const bytes = Buffer.concat(batch.map((waiting) => waiting.record));
      let segment: ActiveSegment | undefined;
      try {
        segment = await this.segmentFor();
        await writeAt(segment.handle, bytes, segment.size);
        await segment.handle.datasync();
        this.syncs += 1;
      } catch (error) {
        if (segment) await this.cutBack(segment);
        for (const waiting of batch) waiting.reject(error);
        continue;
      }
      let offset = segment.size;
      segment.size += bytes.length;
      for (const waiting of batch) {
        waiting.resolve({ segment: segment.segment, offset });
        offset += waiting.record.length;
      }
    }
  }

  private async segmentFor(): Promise<ActiveSegment> {
    if (this.active && this.active.size >= this.segmentBytes) await this.seal();
    if (this.active) return this.active;
    const segment = this.nextSegment++;
    const handle = await open(segmentPath(this.dir, segment), 'wx');
    // The new file's name must survive a power loss as well as its bytes.
    await syncDirectory(this.dir);
    this.active = { segment, handle, size: 0 };
    return this.active;
  }

  /**
   * A failed write (disk full, I/O error) may have left part of the batch on disk: cut the file
   * back, so no half record sits in front of the next batch. If even that fails, leave the
   * segment; the next batch starts a new one, and the next start drops the torn tail.
   */
  private async cutBack(segment: ActiveSegment): Promise<void> {
    try {
      await segment.handle.truncate(segment.size);
    } catch {
      if (this.active === segment) await this.seal().catch(() => {});
    }
  }
}

async function writeAt(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}
