/**
 * The one error middleware (src/http/error-middleware.ts) on a real Koa app and HTTP server: our
 * HttpError answers with its status, code and (when exposed) message; anything else is a 500
 * with a generic message and a log line; with `leaveKoaClientErrors` (the admin listener), a 4xx
 * error thrown by Koa's own helpers is left to Koa, and every other error is still ours.
 */
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError } from '../../src/errors.js';
import { errorMiddleware } from '../../src/http/error-middleware.js';
import { capturingLogger } from '../helpers/log-capture.js';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** An app whose only handler throws `error`; answers one GET and what was logged. */
async function answerTo(error: unknown, leaveKoaClientErrors?: boolean) {
  const { logger, lines } = capturingLogger('debug');
  const app = new Koa();
  app.silent = true;
  app.use(errorMiddleware(logger, leaveKoaClientErrors === undefined ? {} : { leaveKoaClientErrors }));
  app.use(() => {
    throw error;
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/somewhere`);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text(), lines };
}

/** What Koa's `ctx.throw(status, message)` throws: an http-errors error with `status` and `expose`. */
function koaError(status: number, message: string): Error {
  return Object.assign(new Error(message), { status, statusCode: status, expose: status < 500 });
}

const INTERNAL = { ok: false, error: { code: 'internal_error', message: 'internal error' } };

describe('the error middleware', () => {
  it.each([
    ['a 400 of ours, exposed', new HttpError(400, 'invalid_payload', 'the body is not JSON'), 400, { code: 'invalid_payload', message: 'the body is not JSON' }],
    ['a 503 of ours, not exposed', new HttpError(503, 'unavailable', 'Redis said no'), 503, { code: 'unavailable', message: 'the relay cannot store callbacks right now; retry later' }],
    ['a 502 of ours, not exposed, no generic text of its own', new HttpError(502, 'bad_gateway', 'upstream said no'), 502, { code: 'bad_gateway', message: 'request failed' }],
  ])('answers %s as JSON, and logs nothing', async (_label, error, status, body) => {
    const answer = await answerTo(error);
    expect(answer.status).toBe(status);
    expect(answer.type).toMatch(/^application\/json/);
    expect(JSON.parse(answer.text)).toEqual({ ok: false, error: body });
    expect(answer.lines).toEqual([]);
  });

  it.each([
    ['a bug', new Error('undefined is not a function')],
    ["Koa's 400 on the receiver (not left to Koa there)", koaError(400, 'bad json')],
  ])('answers %s 500 internal_error, and logs the real error with the method and path', async (_label, error) => {
    const answer = await answerTo(error);
    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.text)).toEqual(INTERNAL);
    expect(answer.lines).toMatchObject([{ level: 50, msg: 'unexpected error while answering a request', method: 'GET', path: '/somewhere', err: { message: (error as Error).message } }]);
  });
});

describe('with leaveKoaClientErrors (the admin listener)', () => {
  it.each([
    [400, 'bad json'],
    [404, 'no such file'],
    [451, 'unavailable for legal reasons'],
  ])("leaves Koa's %i to Koa: its own plain answer, no log line", async (status, message) => {
    const answer = await answerTo(koaError(status, message), true);
    expect(answer.status).toBe(status);
    expect(answer.type).toMatch(/^text\/plain/);
    expect(answer.text).toBe(message);
    expect(answer.lines).toEqual([]);
  });

  it.each([
    ['a 500 from Koa', koaError(500, 'boom')],
    ['a 399', koaError(399, 'odd')],
    ['a status that is no number', Object.assign(new Error('odd'), { status: '404' })],
    ['a thrown value that is no object', null],
    ['a bug', new Error('undefined is not a function')],
  ])('still answers %s as our 500, and logs it', async (_label, error) => {
    const answer = await answerTo(error, true);
    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.text)).toEqual(INTERNAL);
    expect(answer.lines).toMatchObject([{ level: 50, msg: 'unexpected error while answering a request' }]);
  });

  it('still answers our own HttpError of 4xx as JSON', async () => {
    const answer = await answerTo(new HttpError(403, 'forbidden', 'read-only'), true);
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toEqual({ ok: false, error: { code: 'forbidden', message: 'read-only' } });
  });
});
