import { describe, expect, it } from 'vitest';
import { keySlot } from '../../src/intake/key-slot.js';

describe('keySlot', () => {
  it('matches Redis Cluster: CRC16 of the key modulo 16384', () => {
    // Values as `CLUSTER KEYSLOT` answers them.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('123456789')).toBe(0x31c3 % 16384);
  });

  it('hashes only the hash tag when there is a non-empty one', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('{zr:intake:3}:stream')).toBe(keySlot('{zr:intake:3}:seen:cb_1'));
    // An empty first tag: the whole key is hashed, not `bar`.
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
  });
});
