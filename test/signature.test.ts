import { describe, expect, it } from 'vitest';
import { verifyZegoSignature, zegoSignature } from '../src/receive/signature.js';

describe('ZEGO callback signature', () => {
  it("matches ZEGO's official test vector", () => {
    expect(zegoSignature('secret', '1470820198', '123412')).toBe('5bd59fd62953a8059fb7eaba95720f66d19e4517');
  });

  it('sorts as strings, not numbers (nonce 99 sorts after 1470820198)', async () => {
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha1').update('147082019899secret').digest('hex');
    expect(zegoSignature('secret', '1470820198', '99')).toBe(expected);
    // A numeric sort would have put 99 first: that must not match.
    expect(zegoSignature('secret', '1470820198', '99')).not.toBe(createHash('sha1').update('991470820198secret').digest('hex'));
  });

  it('accepts any of the secrets (rotation) and refuses all others', () => {
    const signature = zegoSignature('new', '1470820198', '123412');
    expect(verifyZegoSignature(['old', 'new'], '1470820198', '123412', signature)).toBe(true);
    expect(verifyZegoSignature(['old'], '1470820198', '123412', signature)).toBe(false);
  });

  it('compares hex case-insensitively and refuses a signature of another length', () => {
    const signature = zegoSignature('secret', '1470820198', '123412');
    expect(verifyZegoSignature(['secret'], '1470820198', '123412', signature.toUpperCase())).toBe(true);
    expect(verifyZegoSignature(['secret'], '1470820198', '123412', signature.slice(1))).toBe(false);
    expect(verifyZegoSignature(['secret'], '1470820198', '123413', signature)).toBe(false);
  });
});
