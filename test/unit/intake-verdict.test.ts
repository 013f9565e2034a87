/**
 * What the receiver makes of a reply of its intake script (intakeVerdict in
 * src/intake/script.ts): 'stored' only for a stream entry id, and any other reply is an
 * error, so the receiver answers 503 and ZEGO retries rather than hearing "stored" for a write that
 * may not exist. The scripts themselves run on real Redis in test/integration/store.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { intakeVerdict } from '../../src/intake/script.js';

describe('intakeVerdict', () => {
  it.each([
    ['replayed', 'replayed'],
    ['duplicate', 'duplicate'],
    ['1732800000000-0', 'stored'],
    ['1732800000000-12', 'stored'],
    ['0-1', 'stored'],
  ])('%j is %s', (reply, outcome) => expect(intakeVerdict(reply)).toBe(outcome));

  it.each([
    ['OK'], ['bound'], [''], ['1732800000000-'], ['-0'], ['17a2-0'], ['x1732800000000-0'], ['1732800000000-0x'],
    ['1732800000000-0\n'], ['1732800000000'], [1732800000000], [null], [undefined], [['1732800000000-0']],
  ])('%j proves no write', (reply) => {
    expect(() => intakeVerdict(reply)).toThrow(`unexpected answer from the intake script: ${String(reply)}`);
  });

  it('names at most 40 characters of an unexpected reply', () => {
    const reply = `${'a'.repeat(40)}${'b'.repeat(60)}`;
    expect(() => intakeVerdict(reply)).toThrow(new Error(`unexpected answer from the intake script: ${'a'.repeat(40)}`));
  });
});
