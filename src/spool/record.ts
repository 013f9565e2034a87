/**
 * One spooled callback as bytes on disk, and reading them back. Pure, no I/O.
 *
 *   MAGIC "ZRS1" (4) | payload length, uint32 BE (4) | CRC-32 of the payload, uint32 BE (4) | payload
 *
 * The payload is JSON: the whole CallbackToStore (what the receiver would have written to Redis)
 * and when the receiver acknowledged it. The length and the checksum make a record written only in
 * part (a crash mid-write) recognisable; the magic lets a reader find the next whole record after
 * damaged bytes.
 */
import { crc32 } from 'node:zlib';
import type { CallbackToStore } from '../intake/callback-store.js';

const MAGIC = Buffer.from('ZRS1', 'latin1');
/** Magic, length and checksum. */
export const RECORD_HEADER_BYTES = 12;
/** Far beyond any callback the receiver accepts: a longer length is damage, not a record. */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** What a record holds. */
export interface SpooledCallback {
  readonly callback: CallbackToStore;
  /** When the receiver acknowledged it (ms since the epoch): the intake entry's `at`. */
  readonly receivedAt: number;
}

export function encodeRecord(spooled: SpooledCallback): Buffer {
  const payload = Buffer.from(JSON.stringify({ receivedAt: spooled.receivedAt, callback: spooled.callback }), 'utf8');
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(payload.length, 4);
  header.writeUInt32BE(crc32(payload), 8);
  return Buffer.concat([header, payload]);
}

/**
 * The record starting at `offset`:
 * - `record`: whole and intact, `length` bytes with its header;
 * - `incomplete`: the bytes end before the record does (a write cut short, or more to read);
 * - `damaged`: not a record here (no magic, an impossible length, a wrong checksum, a payload
 *   that is not a callback).
 */
export type DecodedRecord =
  | { readonly kind: 'record'; readonly spooled: SpooledCallback; readonly length: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'damaged' };

export function decodeRecord(buffer: Buffer, offset: number): DecodedRecord {
  const available = buffer.length - offset;
  if (available < RECORD_HEADER_BYTES) {
    // A header cut short is still recognisable by what there is of its magic.
    const seen = Math.min(available, MAGIC.length);
    return buffer.subarray(offset, offset + seen).equals(MAGIC.subarray(0, seen)) ? { kind: 'incomplete' } : { kind: 'damaged' };
  }
  if (!buffer.subarray(offset, offset + MAGIC.length).equals(MAGIC)) return { kind: 'damaged' };
  const payloadLength = buffer.readUInt32BE(offset + 4);
  if (payloadLength === 0 || payloadLength > MAX_PAYLOAD_BYTES) return { kind: 'damaged' };
  const length = RECORD_HEADER_BYTES + payloadLength;
  if (available < length) return { kind: 'incomplete' };
  const payload = buffer.subarray(offset + RECORD_HEADER_BYTES, offset + length);
  if (crc32(payload) !== buffer.readUInt32BE(offset + 8)) return { kind: 'damaged' };
  const spooled = parsePayload(payload);
  return spooled ? { kind: 'record', spooled, length } : { kind: 'damaged' };
}

/** The offset of the next whole record after `from`, or undefined when none follows. */
export function nextRecordAfter(buffer: Buffer, from: number): number | undefined {
  for (let offset = buffer.indexOf(MAGIC, from + 1); offset !== -1; offset = buffer.indexOf(MAGIC, offset + 1)) {
    if (decodeRecord(buffer, offset).kind === 'record') return offset;
  }
  return undefined;
}

/** A payload this version wrote: a callback whose fields are all strings, and a time. */
function parsePayload(payload: Buffer): SpooledCallback | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const { receivedAt, callback } = (parsed ?? {}) as { receivedAt?: unknown; callback?: unknown };
  if (typeof receivedAt !== 'number' || !Number.isFinite(receivedAt) || typeof callback !== 'object' || callback === null) return undefined;
  const fields = callback as Record<string, unknown>;
  if (typeof fields.callbackId !== 'string' || !Object.values(fields).every((value) => typeof value === 'string')) return undefined;
  return { receivedAt, callback: callback as CallbackToStore };
}
