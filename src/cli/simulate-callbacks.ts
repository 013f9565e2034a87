/**
 * Realistic ZEGO callbacks for `zego-relay simulate`: the fields ZEGO documents for each
 * event, identity fields unique per callback, and on every try a fresh timestamp, nonce and
 * signature computed like ZEGO does. Events that ZEGO sends with numbers (room_create,
 * room_close: appid, timestamp, a UInt64 room_session_id) are written as JSON numbers, including
 * one above 2^53, so the relay's "never change a digit" promise is exercised too.
 */
import { randomBytes } from 'node:crypto';
import { zegoSignature } from '../receive/signature.js';

/** A JSON value written into the body as this text, verbatim (a number above 2^53 keeps its digits). */
export interface RawJson {
  readonly raw: string;
}

/** A JSON number written as its digits (may exceed 2^53). */
export const jsonNumber = (digits: string): RawJson => ({ raw: digits });

export type CallbackFields = Record<string, string | RawJson>;

/** Events whose identity fields and numeric types the simulator knows; others get a generic body. */
export const SIMULATED_EVENTS = [
  'mix_start', 'mix_stop', 'stream_create', 'stream_close', 'room_login', 'room_logout', 'room_create', 'room_close', 'record',
] as const;

/** The fields of callback number `index` of a run, without timestamp, nonce and signature. */
export function callbackFields(event: string, appId: string, runId: string, index: number): CallbackFields {
  const n = String(index + 1);
  const room = `room-${runId}`;
  switch (event) {
    case 'mix_start':
    case 'mix_stop':
      return {
        appid: appId, event, seq: `${runId.replace(/\D/g, '').slice(0, 6) || '1'}${n.padStart(6, '0')}`,
        task_id: `${appId}:${runId}-${n}`, channel_id: room, publish_id: `user-${n}`,
        mix_url: `rtmp://rtmp.example.zego.im/live/mix-${runId}-${n}`, mix_stream_alias: `mix-${runId}-${n}`,
      };
    case 'stream_create':
    case 'stream_close':
      return {
        appid: appId, event, stream_alias: `stream-${runId}-${n}`, stream_sid: `s${runId}${n}`, stream_seq: n,
        channel_id: room, user_id: `user-${n}`, create_time: String(Math.floor(Date.now() / 1000)),
      };
    case 'room_login':
    case 'room_logout':
      return {
        appid: appId, event, room_id: room, room_seq: n, session_id: `${runId}-${n}`, user_account: `user-${n}`,
        user_nickname: `User ${n}`, user_update_seq: n, login_time: String(Date.now()),
      };
    case 'room_create':
    case 'room_close':
      return {
        appid: jsonNumber(appId), event, room_id: room,
        // Above 2^53 on purpose: a relay that parses it as a JS number would change its digits.
        room_session_id: jsonNumber((9_007_199_254_740_993n + BigInt(Date.now()) * 1000n + BigInt(index)).toString()),
      };
    case 'record':
      return {
        appid: appId, event, stream_alias: `stream-${runId}-${n}`, begin_time: String(Date.now() - 60_000),
        end_time: String(Date.now()), replay_url: `https://record.example.zego.im/${runId}/${n}.mp4`,
      };
    default:
      return { appid: appId, event, simulate_id: `${runId}-${n}` };
  }
}

/** A nonce like ZEGO's: a decimal number of up to 19 digits. */
export function freshNonce(): string {
  return BigInt.asUintN(63, randomBytes(8).readBigUInt64BE()).toString();
}

export interface SignOptions {
  /** Unix seconds. @defaultValue now */
  readonly timestamp?: string | RawJson;
  /** @defaultValue a fresh one (freshNonce) */
  readonly nonce?: string | RawJson;
  /** Name the three fields `Timestamp`, `Nonce`, `Signature`, as some ZEGO products do. @defaultValue false */
  readonly pascalCase?: boolean;
}

/**
 * `fields` plus timestamp, nonce and the signature ZEGO computes over their exact text
 * (receive/signature.ts). Each may be given, so a test can re-use or break exactly one of them.
 */
export function signFields(fields: CallbackFields, secret: string, options: SignOptions = {}): CallbackFields {
  const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? freshNonce();
  const text = (value: string | RawJson) => (typeof value === 'string' ? value : value.raw);
  const signature = zegoSignature(secret, text(timestamp), text(nonce));
  const names = options.pascalCase ? ['Timestamp', 'Nonce', 'Signature'] : ['timestamp', 'nonce', 'signature'];
  return { ...fields, [names[0]!]: timestamp, [names[1]!]: nonce, [names[2]!]: signature };
}

/** The JSON text of `fields`, RawJson values written as they are. */
export function jsonBody(fields: CallbackFields): string {
  const members = Object.entries(fields).map(
    ([key, value]) => `${JSON.stringify(key)}:${typeof value === 'string' ? JSON.stringify(value) : value.raw}`,
  );
  return `{${members.join(',')}}`;
}

/**
 * The JSON body of one try: the fields plus a fresh timestamp, nonce and signature. The
 * timestamp is a JSON number when the event's appid is (room_create, room_close), like ZEGO.
 */
export function signedBody(fields: CallbackFields, secret: string, nowMs = Date.now()): string {
  const timestamp = String(Math.floor(nowMs / 1000));
  const numeric = typeof fields.appid === 'object';
  return jsonBody(signFields(fields, secret, { timestamp: numeric ? jsonNumber(timestamp) : timestamp }));
}
