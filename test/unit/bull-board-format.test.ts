/**
 * What Bull Board shows of a delivery job (bull-board-format.ts): the body as JSON with every
 * digit of a UInt64 kept, text when it is not JSON, the target and attempts; nothing throws and
 * the stored job data is never changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { displayBody, displayJobData, displayJobName } from '../../src/admin/bull-board-format.js';

const data = {
  callbackId: 'zego_mix_stop_1',
  event: 'mix_stop',
  appId: '111111',
  body: '{"appid":"111111","event":"mix_stop","task_id":"111111:1111","seq":"1234"}',
  receivedAt: 1_700_000_000_000,
};

describe('displayJobData', () => {
  it('shows the body as JSON and the target first, without changing the stored data', () => {
    const stored = structuredClone(data);
    const shown = displayJobData(stored, 'billing') as Record<string, unknown>;
    expect(Object.keys(shown)[0]).toBe('target');
    expect(shown).toEqual({ target: 'billing', ...data, body: { appid: '111111', event: 'mix_stop', task_id: '111111:1111', seq: '1234' } });
    expect(stored).toEqual(data);
  });

  it('leaves out the target for the unrouted queue and shows anything else unchanged', () => {
    expect(displayJobData(data, undefined)).not.toHaveProperty('target');
    for (const other of [undefined, null, 'text', 42, [1, 2], { body: 42 }, { no: 'body' }]) expect(displayJobData(other, 'billing')).toBe(other);
  });
});

describe('displayBody', () => {
  it('keeps every digit of a top-level integer above 2^53 (shown as its digits)', () => {
    const shown = displayBody('{"event":"room_create","appid":111111,"room_session_id":6085791336856668982,"timestamp":1689835223}');
    expect(shown).toEqual({ event: 'room_create', appid: 111111, room_session_id: '6085791336856668982', timestamp: 1689835223 });
  });

  it('shows the text when a big integer is nested, or the body is not JSON', () => {
    const nested = '{"event":"x","extra":{"id":6085791336856668982}}';
    expect(displayBody(nested)).toBe(nested);
    expect(displayBody('[6085791336856668982]')).toBe('[6085791336856668982]');
    expect(displayBody('appid=1&event=mix_stop')).toBe('appid=1&event=mix_stop');
    expect(displayBody('')).toBe('');
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(() => displayBody(deep)).not.toThrow();
  });

  it('does not let a member named __proto__ change the shown object', () => {
    const shown = displayBody('{"__proto__":9007199254740993,"a":1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(shown)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(shown, '__proto__')?.value).toBe('9007199254740993');
  });

  it('never throws and shows either the exact text or the parsed JSON, top-level big integers as their digits', () => {
    const unsafe = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((value) => JSON.stringify(value))), (text) => {
        const shown = displayBody(text);
        if (shown === text) return;
        const parsed: unknown = JSON.parse(text);
        // fast-check writes JSON with JSON.stringify, so a number's text is String(value).
        const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
        const expected = isObject ? Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, unsafe(value) ? String(value) : value])) : parsed;
        expect(shown).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('displayJobName', () => {
  it('names the event, the target and the attempts made of those allowed, from the attempts the worker records', () => {
    // Two failed attempts recorded, waiting for the third.
    expect(displayJobName({ name: 'mix_stop', data: { attempts: 2 } }, 'billing', 10)).toBe('mix_stop → billing · attempts 2/10');
    // Delivered at the first try: nothing recorded, one attempt made.
    expect(displayJobName({ name: 'mix_stop', data: {}, finishedOn: 1 }, 'billing', 4)).toBe('mix_stop → billing · attempts 1/4');
    // Delivered at the third try.
    expect(displayJobName({ name: 'mix_stop', data: { attempts: 2 }, finishedOn: 1 }, 'billing', 4)).toBe('mix_stop → billing · attempts 3/4');
    // Dead-lettered after its last attempt (the worker records it), and put back by an operator.
    expect(displayJobName({ name: 'mix_stop', data: { attempts: 3, deadLettered: true }, finishedOn: 1, failedReason: '410' }, 'billing', 3)).toBe('mix_stop → billing · attempts 3/3');
    expect(displayJobName({ name: 'mix_stop', data: { attempts: 3, deadLettered: true } }, 'billing', 3)).toBe('mix_stop → billing · attempts 0/3');
    expect(displayJobName({ name: 'mix_stop', data: { attempts: 1 } }, undefined)).toBe('mix_stop');
    expect(displayJobName(undefined, 'billing')).toBe(' → billing · attempts 0/1');
  });
});
