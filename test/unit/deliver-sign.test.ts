import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { attemptHeaders } from '../../workers/deliver/headers.js';
import { signWebhook } from '../../workers/deliver/sign.js';
import { USER_AGENT } from '../../workers/deliver/user-agent.js';

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
const body = '{"appid":111111,"room_session_id":6085791336856668982,"event":"room_close"}';

describe('Standard Webhooks signing', () => {
  it('is verified by the standardwebhooks library', () => {
    const secret = newSecret();
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signWebhook([secret], 'cb_123', timestamp, body)!;
    const payload = new Webhook(secret).verify(body, {
      'webhook-id': 'cb_123',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
    });
    // The library parses JSON (losing the 64-bit digits); what matters is that it verified.
    expect(payload).toMatchObject({ event: 'room_close' });
  });

  it('signs with every secret so both sides of a rotation verify', () => {
    const [oldSecret, newerSecret] = [newSecret(), newSecret()];
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signWebhook([oldSecret, newerSecret], 'cb_1', timestamp, body)!;
    expect(signature.split(' ')).toHaveLength(2);
    for (const secret of [oldSecret, newerSecret]) {
      expect(() => new Webhook(secret).verify(body, { 'webhook-id': 'cb_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signature })).not.toThrow();
    }
  });

  it('fails verification when one thing changes (body, id or secret)', () => {
    const secret = newSecret();
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signWebhook([secret], 'cb_1', timestamp, body)!;
    const headers = { 'webhook-id': 'cb_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
    expect(() => new Webhook(secret).verify(body.replace('668982', '668983'), headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'cb_2' })).toThrow();
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
  });

  it('gives no signature without secrets', () => {
    expect(signWebhook([], 'cb_1', 1, body)).toBeUndefined();
  });
});

describe('attemptHeaders', () => {
  const data = { callbackId: 'cb_9', event: 'mix_stop', appId: '111111', body };

  it('lists exactly the contract headers, then the target headers', () => {
    const headers = attemptHeaders({ target: { headers: { Authorization: 'Bearer t' }, signingSecrets: [] }, data, attempt: 3, timestampSeconds: 1_700_000_000 });
    // Strict: no webhook-signature key at all without secrets (not even an undefined one).
    expect(headers).toStrictEqual({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': 'cb_9',
      'webhook-timestamp': '1700000000',
      'x-zego-event': 'mix_stop',
      'x-zego-appid': '111111',
      'x-relay-attempt': '3',
      Authorization: 'Bearer t',
    });
    expect(USER_AGENT).toMatch(/^zego-relay\/\d+\.\d+\.\d+/);
  });

  it('does not let target headers replace the signed or protocol headers', () => {
    const headers = attemptHeaders({
      target: { headers: { 'Webhook-Id': 'forged', 'Content-Type': 'text/plain', 'User-Agent': 'custom/1' }, signingSecrets: [newSecret()] },
      data, attempt: 1, timestampSeconds: 1,
    });
    expect(headers['webhook-id']).toBe('cb_9');
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toBe('custom/1');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Object.keys(headers).filter((name) => name.toLowerCase() === 'webhook-id')).toHaveLength(1);
  });

  it('keeps every protocol header, whatever letter case a target spells it in', () => {
    const secret = newSecret();
    const forged = Object.fromEntries(
      ['Content-Type', 'CONTENT-LENGTH', 'Host', 'webhook-id', 'Webhook-Timestamp', 'WEBHOOK-SIGNATURE', 'X-Zego-Event', 'x-zego-APPID', 'X-Relay-Attempt']
        .map((name) => [name, 'forged']),
    );
    const headers = attemptHeaders({ target: { headers: { ...forged, 'X-Trace': 't' }, signingSecrets: [secret] }, data, attempt: 2, timestampSeconds: 1_700_000_000 });
    expect(headers).toStrictEqual({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': 'cb_9',
      'webhook-timestamp': '1700000000',
      'webhook-signature': signWebhook([secret], 'cb_9', 1_700_000_000, body),
      'x-zego-event': 'mix_stop',
      'x-zego-appid': '111111',
      'x-relay-attempt': '2',
      'X-Trace': 't',
    });
  });
});
