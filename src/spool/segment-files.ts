/**
 * The spool's files on disk: numbered segments (`0000000001.spool`, ...) in one directory,
 * appended to in order, drained oldest first, deleted once drained; and reading them back at
 * start-up.
 *
 * What a crash can leave, and what start-up does with it:
 * - the newest segment ends in a record written only in part (a crash mid-write): that record was
 *   never acknowledged (the 200 waits for the fsync), so the file is cut back to its last whole
 *   record, with a warning;
 * - damaged bytes with whole records after them, or at the end of an older segment: that is disk
 *   damage, not a torn write. The bytes are copied next to the segment as `NAME.damaged-OFFSET` for
 *   the operator, an error is logged, and the whole records around them are kept.
 */
import { open, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/logger.js';
import { decodeRecord, nextRecordAfter, type SpooledCallback } from './record.js';

const SEGMENT_NAME = /^(\d{10})\.spool$/;

export function segmentPath(dir: string, segment: number): string {
  return join(dir, `${String(segment).padStart(10, '0')}.spool`);
}

/** The segments in `dir`, oldest first. */
export async function listSegments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names
    .map((name) => SEGMENT_NAME.exec(name)?.[1])
    .filter((digits): digits is string => digits !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Makes a file's creation or removal in `dir` durable (its directory entry is flushed too). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function deleteSegment(dir: string, segment: number): Promise<void> {
  await unlink(segmentPath(dir, segment)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/** A whole record found in a segment: where it is and what it holds. */
export interface RecoveredRecord {
  readonly offset: number;
  readonly length: number;
  readonly spooled: SpooledCallback;
}

export interface RecoveredSegment {
  readonly segment: number;
  /** The file's size once start-up is done with it. */
  readonly bytes: number;
  readonly records: RecoveredRecord[];
}

/**
 * Reads one segment back. `newest`: the segment that was being appended to when the last run
 * ended, the only one a torn write can be in.
 */
export async function recoverSegment(dir: string, segment: number, newest: boolean, logger: Logger): Promise<RecoveredSegment> {
  const path = segmentPath(dir, segment);
  const buffer = await readFile(path);
  const records: RecoveredRecord[] = [];
  let offset = 0;
  let bytes = buffer.length;
  while (offset < buffer.length) {
    const decoded = decodeRecord(buffer, offset);
    if (decoded.kind === 'record') {
      records.push({ offset, length: decoded.length, spooled: decoded.spooled });
      offset += decoded.length;
      continue;
    }
    const resumesAt = nextRecordAfter(buffer, offset);
    if (resumesAt === undefined && newest) {
      await truncateFile(path, offset);
      bytes = offset;
      logger.warn(
        { file: path, offset, droppedBytes: buffer.length - offset },
        'dropped a torn record at the end of the spool (the process stopped while writing it; it was never acknowledged)',
      );
      break;
    }
    const end = resumesAt ?? buffer.length;
    const keptAs = `${path}.damaged-${offset}`;
    await writeFile(keptAs, buffer.subarray(offset, end));
    logger.error(
      { file: path, offset, damagedBytes: end - offset, keptAs },
      'damaged bytes in the spool (disk damage?): callbacks in them cannot be drained; they are kept in a file of their own',
    );
    if (resumesAt === undefined) break;
    offset = resumesAt;
  }
  return { segment, bytes, records };
}

async function truncateFile(path: string, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
