/**
 * Builds correctly signed ZEGO callbacks the way ZEGO sends them, so each test starts from a valid
 * callback and breaks exactly one thing. The app and secret are the test config's (config.ts).
 */
import { randomUUID } from 'node:crypto';
import { zegoSignature } from '../../src/receive/signature.js';
import { APP_ID, SECRET } from './config.js';

/** A JSON value written verbatim into the body (e.g. a 64-bit number `{ raw: '6085791336856668982' }`). */
export interface Raw {
  raw: string;
}

export type Fields = Record<string, string | Raw>;

export interface SignOptions {
  secret?: string;
  /** Unix seconds; default now. */
  timestamp?: string | Raw;
  /** Default: a fresh random nonce. */
  nonce?: string | Raw;
  /** Common field spelling. */
  pascalCase?: boolean;
}

/** ZEGO's documented mix_stop example, with a unique task id. */
export function mixStopFields(overrides: Fields = {}): Fields {
  return {
    appid: APP_ID,
    channel_id: '2222',
    event: 'mix_stop',
    mix_stream_alias: 'aaa',
    mix_url: 'rtmp://rtmp.wsdemo.zego.im/zegodemo/aaa',
    publish_id: 'abc',
    seq: '1234',
    task_id: `${APP_ID}:${randomUUID()}`,
    ...overrides,
  };
}

/** Adds timestamp, nonce and a valid signature (over their exact text) to `fields`. */
export function sign(fields: Fields, options: SignOptions = {}): Fields {
  const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? String(Math.floor(Math.random() * 1e15));
  const text = (value: string | Raw) => (typeof value === 'string' ? value : value.raw);
  const signature = zegoSignature(options.secret ?? SECRET, text(timestamp), text(nonce));
  const names = options.pascalCase
    ? { timestamp: 'Timestamp', nonce: 'Nonce', signature: 'Signature' }
    : { timestamp: 'timestamp', nonce: 'nonce', signature: 'signature' };
  return { ...fields, [names.timestamp]: timestamp, [names.nonce]: nonce, [names.signature]: signature };
}

/** The JSON text of `fields`; Raw values are written as they are. */
export function jsonBody(fields: Fields): string {
  const members = Object.entries(fields).map(
    ([key, value]) => `${JSON.stringify(key)}:${typeof value === 'string' ? JSON.stringify(value) : value.raw}`,
  );
  return `{${members.join(',')}}`;
}

/** The form encoding of `fields` (Raw values as their text). */
export function formBody(fields: Fields): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) params.append(key, typeof value === 'string' ? value : value.raw);
  return params.toString();
}
