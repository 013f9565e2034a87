import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { useTestRedis } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';
import { endlessUpload } from '../helpers/endless-upload.js';

const redis = useTestRedis();

describe('a body that never ends', () => {
  const budget = 256 * 1024 * 1024;

  it.each([
    ['413 past server.bodyLimit', '/zego/callback', 'application/json', '413'],
    ['404 on another path', '/elsewhere', 'application/json', '404'],
  ])('is answered (%s) and the connection closed: the relay reads a bounded amount', async (_name, path, contentType, status) => {
    const config = testConfig({ redisUrl: redis.url, server: { bodyLimit: '64kb' } });
    const handle = await startReceiver(config, { logger: silentLogger });
    redis.cleanup(() => handle.close());
    const upload = await endlessUpload(handle.port, path, contentType, budget);
    expect(upload.response.startsWith(`HTTP/1.1 ${status}`), upload.response.slice(0, 80)).toBe(true);
    expect(upload.response.toLowerCase()).toContain('connection: close');
    expect(upload.closedByRelay).toBe(true);
    // What the client could write is an upper bound of what the relay read: the limit plus socket buffers.
    expect(upload.written).toBeLessThan(16 * 1024 * 1024);
  }, 30_000);
});

describe('a body read to its end', () => {
  it('keeps its keep-alive connection, whatever the answer', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const handle = await startReceiver(config, { logger: silentLogger });
    redis.cleanup(() => handle.close());
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    redis.cleanup(async () => agent.destroy());
    const post = (body: string) =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const outgoing = request({ agent, port: handle.port, host: '127.0.0.1', path: '/zego/callback', method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode!, connection: response.headers.connection }));
        });
        outgoing.on('error', reject);
        outgoing.end(body);
      });
    expect(await post(jsonBody(sign(mixStopFields())))).toEqual({ status: 200, connection: 'keep-alive' });
    expect(await post('{"not": "a callback"}')).toEqual({ status: 400, connection: 'keep-alive' });
  });
});
