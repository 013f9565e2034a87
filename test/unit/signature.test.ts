import { describe, expect, it } from 'vitest';
import { callbackFields, jsonBody, signedBody, signFields, SIMULATED_EVENTS } from '../../src/cli/simulate-callbacks.js';
import { HttpError } from '../../src/errors.js';
import { authenticate, secretsByApp } from '../../src/receive/authenticate.js';
import { decodeBody } from '../../src/receive/payload.js';
import { verifyZegoSignature, zegoSignature } from '../../src/receive/signature.js';
import { validateCallback } from '../../src/receive/validate.js';

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

describe('authenticate: unknown app, then signature, then timestamp', () => {
  const NOW_SECONDS = 1_700_000_000;
  // Built in each test, not while the tests are collected: an error here must fail a test.
  const apps = () => secretsByApp([{ appId: '1', callbackSecrets: ['old', 'new'] }, { appId: '2', callbackSecrets: ['other'] }]);
  const callback = (appId: string, timestamp: number, secret = 'new') => {
    const nonce = '123412';
    const text = JSON.stringify({ appid: appId, event: 'mix_stop', timestamp: String(timestamp), nonce, signature: zegoSignature(secret, String(timestamp), nonce), task_id: 't', seq: '1' });
    return validateCallback(decodeBody(text), { allowUnknownEvents: false });
  };
  const verdict = (appId: string, timestamp: number, secret?: string) => {
    try {
      authenticate(callback(appId, timestamp, secret), { secretsByApp: apps(), toleranceSeconds: 300, now: NOW_SECONDS * 1000 });
      return 'authenticated';
    } catch (error) {
      if (error instanceof HttpError) return `${error.status} ${error.code}: ${error.message}`;
      throw error;
    }
  };

  it('builds the lookup of every configured app', () => {
    expect([...apps().entries()]).toEqual([['1', ['old', 'new']], ['2', ['other']]]);
  });

  it('authenticates a callback signed with any secret of its app, up to the tolerance on both sides', () => {
    expect(verdict('1', NOW_SECONDS)).toBe('authenticated');
    expect(verdict('1', NOW_SECONDS, 'old')).toBe('authenticated');
    expect(verdict('1', NOW_SECONDS - 300)).toBe('authenticated');
    expect(verdict('1', NOW_SECONDS + 300)).toBe('authenticated');
  });

  it('refuses an app that is not configured', () => {
    expect(verdict('3', NOW_SECONDS)).toBe('401 unknown_app: this appid is not configured');
  });

  it("refuses a signature made with another app's secret", () => {
    expect(verdict('1', NOW_SECONDS, 'other')).toBe('401 bad_signature: the signature does not match');
  });

  it('refuses a timestamp one second beyond the tolerance, either way, even when well signed', () => {
    const stale = "401 stale_timestamp: the timestamp is more than 300 s away from the relay's clock";
    expect(verdict('1', NOW_SECONDS - 301)).toBe(stale);
    expect(verdict('1', NOW_SECONDS + 301)).toBe(stale);
  });
});

describe('the signed-body builder shared by `zego-relay simulate` and the tests', () => {
  const apps = () => secretsByApp([{ appId: '111111', callbackSecrets: ['sim-secret'] }]);
  const authenticated = (text: string) => {
    authenticate(validateCallback(decodeBody(text), { allowUnknownEvents: true }), { secretsByApp: apps(), toleranceSeconds: 300, now: Date.now() });
    return true;
  };

  it.each(SIMULATED_EVENTS)('signs a simulated %s so that the receiver authenticates it', (event) => {
    expect(authenticated(signedBody(callbackFields(event, '111111', 'run1', 0), 'sim-secret'))).toBe(true);
  });

  it('writes the timestamp as a JSON number when the appid is one (room_create), and signs its digits', () => {
    const text = signedBody(callbackFields('room_create', '111111', 'run1', 0), 'sim-secret', 1_700_000_000_500);
    expect(text).toMatch(/"appid":111111,.*"timestamp":1700000000,/);
    expect(() => authenticate(validateCallback(decodeBody(text), { allowUnknownEvents: true }), { secretsByApp: apps(), toleranceSeconds: 300, now: 1_700_000_000_000 })).not.toThrow();
  });

  it('takes a given timestamp, nonce and field spelling, and signs exactly those', () => {
    const fields = signFields({ AppId: '111111', Event: 'mix_stop', task_id: 't', seq: '1' }, 'sim-secret', { timestamp: '1700000000', nonce: '123412', pascalCase: true });
    expect(fields).toMatchObject({ Timestamp: '1700000000', Nonce: '123412', Signature: zegoSignature('sim-secret', '1700000000', '123412') });
    expect(jsonBody(fields)).toBe(`{"AppId":"111111","Event":"mix_stop","task_id":"t","seq":"1","Timestamp":"1700000000","Nonce":"123412","Signature":"${zegoSignature('sim-secret', '1700000000', '123412')}"}`);
  });
});
