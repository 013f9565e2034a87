/** The spool's pure parts: its record format, its index's verdicts, and where a callback is written. Unit tier. */
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RECORD_HEADER_BYTES, decodeRecord, encodeRecord, nextRecordAfter, type SpooledCallback } from '../../src/spool/record.js';
import { SpoolIndex, indexKeys } from '../../src/spool/spool-index.js';
import { writePath } from '../../src/spool/spooling-store.js';
import type { CallbackToStore } from '../../src/intake/callback-store.js';

const callback = (callbackId: string, replayKey: string, body = '{"event":"mix_stop"}'): CallbackToStore => ({ callbackId, event: 'mix_stop', appId: '111111', replayKey, body });
const spooled: SpooledCallback = { callback: callback('cb_1', 'n1', '{"room_session_id":6085791336856668982,"name":"ü"}'), receivedAt: 1_700_000_000_123 };

describe('a spool record', () => {
  it('reads back what was written, bytes of the body untouched', () => {
    const record = encodeRecord(spooled);
    expect(record.subarray(0, 4).toString('latin1')).toBe('ZRS1');
    expect(decodeRecord(record, 0)).toEqual({ kind: 'record', spooled, length: record.length });
    // At any offset of a larger buffer, as read from a segment.
    const two = Buffer.concat([encodeRecord({ ...spooled, receivedAt: 1 }), record]);
    expect(decodeRecord(two, two.length - record.length)).toEqual({ kind: 'record', spooled, length: record.length });
  });

  it('is incomplete while cut short anywhere: a write a crash interrupted', () => {
    const record = encodeRecord(spooled);
    for (const length of [1, 3, RECORD_HEADER_BYTES - 1, RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + 1, record.length - 1]) {
      expect(decodeRecord(record.subarray(0, length), 0), `cut at ${length}`).toEqual({ kind: 'incomplete' });
    }
  });

  it('is damaged when a byte is changed, the magic is missing, or the length is impossible', () => {
    const record = encodeRecord(spooled);
    for (const at of [0, 5, 9, RECORD_HEADER_BYTES + 3, record.length - 1]) {
      const changed = Buffer.from(record);
      changed[at] = changed[at]! ^ 0x01;
      // A changed length may point past the end: then it is (also) not whole.
      expect(['damaged', 'incomplete'], `byte ${at} changed`).toContain(decodeRecord(changed, 0).kind);
    }
    const zeros = Buffer.alloc(64);
    expect(decodeRecord(zeros, 0)).toEqual({ kind: 'damaged' });
    expect(decodeRecord(Buffer.from('ZRX'), 0)).toEqual({ kind: 'damaged' });
    const zeroLength = Buffer.from(record);
    zeroLength.writeUInt32BE(0, 4);
    expect(decodeRecord(zeroLength, 0)).toEqual({ kind: 'damaged' });
    const huge = Buffer.from(record);
    huge.writeUInt32BE(0xffffffff, 4);
    expect(decodeRecord(huge, 0)).toEqual({ kind: 'damaged' });
  });

  it('is damaged when an intact payload is not a callback', () => {
    const notACallback = (payload: string) => {
      const record = encodeRecord(spooled);
      const body = Buffer.from(payload);
      const header = Buffer.from(record.subarray(0, RECORD_HEADER_BYTES));
      header.writeUInt32BE(body.length, 4);
      header.writeUInt32BE(crc32(body), 8);
      return decodeRecord(Buffer.concat([header, body]), 0).kind;
    };
    expect(notACallback('not json')).toBe('damaged');
    expect(notACallback('{"receivedAt":1}')).toBe('damaged');
    expect(notACallback('{"receivedAt":"1","callback":{"callbackId":"cb_1"}}')).toBe('damaged');
    expect(notACallback('{"receivedAt":1,"callback":{"callbackId":"cb_1","body":{}}}')).toBe('damaged');
    expect(notACallback('{"receivedAt":1,"callback":{"callbackId":"cb_1","body":"{}"}}')).toBe('record');
  });

  it('finds the next whole record after damaged bytes, and none after the last', () => {
    const first = encodeRecord(spooled);
    const garbage = Buffer.from('ZRS1 garbage that looks like a start');
    const second = encodeRecord({ ...spooled, receivedAt: 2 });
    const buffer = Buffer.concat([first, garbage, second]);
    expect(nextRecordAfter(buffer, first.length)).toBe(first.length + garbage.length);
    expect(nextRecordAfter(buffer, first.length + garbage.length)).toBeUndefined();
    expect(nextRecordAfter(Buffer.concat([first, garbage]), first.length)).toBeUndefined();
  });
});

describe("the spool's index", () => {
  it('answers like the intake script: replayed, duplicate, a re-send with a fresh key, or new', () => {
    const index = new SpoolIndex();
    const original = indexKeys(callback('cb_1', 'n1'));
    expect(index.verdict(original)).toBe('new');
    index.add(original);
    expect(index.verdict(original)).toBe('duplicate');
    // ZEGO's re-send: same callback, fresh nonce; that nonce must be bound too.
    expect(index.verdict(indexKeys(callback('cb_1', 'n2')))).toBe('resend');
    // The nonce of a spooled callback with another body (another id).
    expect(index.verdict(indexKeys(callback('cb_2', 'n1')))).toBe('replayed');
    expect(index.verdict(indexKeys(callback('cb_2', 'n3')))).toBe('new');
  });

  it('forgets a callback and its key only when the last record holding them is drained', () => {
    const index = new SpoolIndex();
    const first = indexKeys(callback('cb_1', 'n1'));
    const resend = indexKeys(callback('cb_1', 'n2'));
    index.add(first);
    index.add(resend);
    index.add(first);
    index.remove(first);
    expect(index.verdict(indexKeys(callback('cb_9', 'n1')))).toBe('replayed');
    index.remove(first);
    expect(index.verdict(indexKeys(callback('cb_9', 'n1')))).toBe('new');
    expect(index.verdict(first)).toBe('resend');
    index.remove(resend);
    expect(index.verdict(first)).toBe('new');
    expect(index.verdict(indexKeys(callback('cb_9', 'n2')))).toBe('new');
  });

  it('keeps the first binding when two callbacks with one key were spooled at once', () => {
    const index = new SpoolIndex();
    index.add(indexKeys(callback('cb_1', 'n1')));
    index.add(indexKeys(callback('cb_2', 'n1')));
    expect(index.verdict(indexKeys(callback('cb_3', 'n1')))).toBe('replayed');
    index.remove(indexKeys(callback('cb_2', 'n1')));
    expect(index.verdict(indexKeys(callback('cb_3', 'n1')))).toBe('replayed');
    index.remove(indexKeys(callback('cb_1', 'n1')));
    expect(index.verdict(indexKeys(callback('cb_3', 'n1')))).toBe('new');
  });
});

describe('where a callback is written', () => {
  it.each([
    { spoolHolds: false, redisConnected: true, path: 'redis' },
    { spoolHolds: false, redisConnected: false, path: 'spool' },
    { spoolHolds: true, redisConnected: true, path: 'spool' },
    { spoolHolds: true, redisConnected: false, path: 'spool' },
  ] as const)('spool holds $spoolHolds, Redis connected $redisConnected: $path', ({ path, ...state }) => {
    expect(writePath(state)).toBe(path);
  });
});
