/**
 * Builds correctly signed ZEGO callbacks the way ZEGO sends them, so each test starts from a valid
 * callback and breaks exactly one thing. The app and secret are the test config's (config.ts).
 */
import { randomUUID } from 'node:crypto';
import { jsonBody, signFields, type CallbackFields, type RawJson, type SignOptions as ZegoSignOptions } from '../../src/cli/simulate-callbacks.js';
import { APP_ID, SECRET } from './config.js';

export { jsonBody };

/** A JSON value written verbatim into the body (e.g. a 64-bit number `{ raw: '6085791336856668982' }`). */
export type Raw = RawJson;

export type Fields = CallbackFields;

export interface SignOptions extends ZegoSignOptions {
  /** @defaultValue the test config's SECRET */
  secret?: string;
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

/** Adds timestamp, nonce and a valid signature (over their exact text) to `fields`, as the simulator does. */
export function sign(fields: Fields, options: SignOptions = {}): Fields {
  return signFields(fields, options.secret ?? SECRET, options);
}

/** The form encoding of `fields` (Raw values as their text). */
export function formBody(fields: Fields): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) params.append(key, typeof value === 'string' ? value : value.raw);
  return params.toString();
}
