/**
 * Reading a callback's bytes (src/http/read-body.ts) without a server: the announced and the
 * actual size limit, bodies in several chunks, a stream that fails or is aborted, and no listener
 * left behind on the request whichever way the read ends.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/errors.js';
import { BodyTooLargeError, readBody } from '../../src/http/read-body.js';

const EVENTS = ['data', 'end', 'error', 'aborted'] as const;

/** A request stream: `chunks` are written, then the stream ends unless `open`. */
function request(chunks: string[], headers: Record<string, string> = {}, open = false) {
  const stream = new PassThrough();
  for (const chunk of chunks) stream.write(Buffer.from(chunk));
  if (!open) stream.end();
  return Object.assign(stream, { headers }) as unknown as IncomingMessage & PassThrough;
}

function listeners(stream: IncomingMessage): number[] {
  return EVENTS.map((event) => stream.listenerCount(event));
}

async function refusal(reading: Promise<unknown>): Promise<HttpError> {
  const error = await reading.then(() => undefined, (thrown: unknown) => thrown);
  if (!(error instanceof HttpError)) throw new Error(`expected an HttpError, got ${String(error)}`);
  return error;
}

describe('readBody', () => {
  it('returns a body of exactly the limit, read in several chunks, whole and in order', async () => {
    const stream = request(['{"a":', '"bc"', '}']);
    const body = await readBody(stream, 10);
    expect(body.toString('utf8')).toBe('{"a":"bc"}');
    expect(listeners(stream)).toEqual([0, 0, 0, 0]);
  });

  it('returns an empty body as an empty buffer', async () => {
    const body = await readBody(request([]), 10);
    expect(Buffer.isBuffer(body)).toBe(true);
    expect(body.length).toBe(0);
  });

  it('refuses one byte more than the limit with 413, keeping what was read before the chunk that passed it', async () => {
    const stream = request(['12345', '678901'], {}, true);
    const error = await refusal(readBody(stream, 10));
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect(error).toMatchObject({ status: 413, code: 'payload_too_large', message: 'the body is larger than 10 bytes', name: 'BodyTooLargeError', size: 11 });
    expect((error as BodyTooLargeError).received.toString('utf8')).toBe('12345');
    // Reading stopped: the rest is not drained, and no listener is left to drain it.
    expect(listeners(stream)).toEqual([0, 0, 0, 0]);
    expect(stream.isPaused()).toBe(true);
  });

  it('refuses at once, reading nothing, when Content-Length announces more than the limit', async () => {
    // The stream holds far less than it announces: the announcement alone is refused.
    const stream = request(['{}'], { 'content-length': '2000' });
    const error = await refusal(readBody(stream, 100));
    expect(error).toMatchObject({ status: 413, message: 'the body is larger than 100 bytes', size: 2000 });
    expect((error as BodyTooLargeError).received.length).toBe(0);
    expect(stream.listenerCount('data')).toBe(0);
  });

  it('reads a body whose Content-Length is exactly the limit', async () => {
    const body = await readBody(request(['1234567890'], { 'content-length': '10' }), 10);
    expect(body.toString('utf8')).toBe('1234567890');
  });

  it('answers 400 invalid_body, naming the cause, when the stream fails', async () => {
    const stream = request(['{"a"'], {}, true);
    const reading = readBody(stream, 100);
    stream.destroy(new Error('socket hang up'));
    const error = await refusal(reading);
    expect(error).toMatchObject({ status: 400, code: 'invalid_body', message: 'the body could not be read (socket hang up)' });
    expect(listeners(stream)).toEqual([0, 0, 0, 0]);
  });

  it('answers 400 invalid_body when the client aborts the request', async () => {
    const stream = request(['{"a"'], {}, true);
    const reading = readBody(stream, 100);
    stream.emit('aborted');
    const error = await refusal(reading);
    expect(error).toMatchObject({ status: 400, code: 'invalid_body', message: 'the body could not be read (the client aborted the request)' });
    expect(listeners(stream)).toEqual([0, 0, 0, 0]);
  });
});
