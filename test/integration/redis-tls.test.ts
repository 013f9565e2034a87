/**
 * redis.tls: a real redis-server with a TLS port that demands a client certificate, a CA and
 * certificates made with openssl. The relay stores and delivers a callback over rediss:// with the
 * files named in the config (no NODE_EXTRA_CA_CERTS), and every role's connection uses TLS.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { startAdmin } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { probeTopology } from '../../src/redis/topology-probe.js';
import { startWorkers } from '../../workers/role.js';
import { makeCertificates, startTlsRedis, type TestCertificates, type TlsRedis } from '../helpers/tls.js';
import { ok, startTargetServer } from '../helpers/targets.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';
import { testConfig } from '../helpers/config.js';

let certificates: TestCertificates;
let redis: TlsRedis;
let plain: Redis;

beforeAll(async () => {
  certificates = makeCertificates();
  redis = await startTlsRedis(certificates);
  plain = new Redis(redis.server.url);
});

afterAll(async () => {
  plain?.disconnect();
  await redis?.server.stop();
  certificates?.remove();
});

const post = (port: number) =>
  fetch(`http://127.0.0.1:${port}/zego/callback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: jsonBody(sign(mixStopFields())),
    signal: AbortSignal.timeout(5_000),
  });

describe('Redis over TLS (redis.tls)', () => {
  it('stores and delivers a callback over rediss:// with the configured CA and client certificate', async () => {
    const target = await startTargetServer(ok);
    const config = testConfig({
      redis: { url: redis.tlsUrl, tls: { ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey } },
      targets: [{ name: 'billing', events: ['*'], url: target.url }],
    });
    const receiver = await startReceiver(config, { logger: silentLogger });
    const workers = await startWorkers(config, { logger: silentLogger });
    const admin = await startAdmin(config, { logger: silentLogger });
    try {
      await expect.poll(async () => (await post(receiver.port)).status, { timeout: 10_000 }).toBe(200);
      await target.waitForRequests(1, 10_000);
      expect((await fetch(`${admin.url}/readyz`)).status).toBe(200);
      // Every connection the relay holds came in on the TLS port, none on the plain one.
      const clients = (await plain.client('LIST')) as string;
      const relayClients = clients.split('\n').filter((line) => line.includes('name=zego-relay:'));
      expect(relayClients.length).toBeGreaterThanOrEqual(3);
      const tlsPort = new URL(redis.tlsUrl).port;
      for (const line of relayClients) expect(line).toContain(`laddr=127.0.0.1:${tlsPort}`);
      const names = relayClients.map((line) => /name=(\S+)/.exec(line)?.[1]);
      expect(names).toEqual(expect.arrayContaining(['zego-relay:receiver', 'zego-relay:worker:billing', 'zego-relay:admin']));
      const report = await probeTopology(config.redis);
      expect(report.kind).toBe('single');
    } finally {
      await receiver.close();
      await workers.close();
      await admin.close();
      await target.close();
    }
  });

  it('cannot reach a TLS Redis whose CA it was not given: 503, never a hang', async () => {
    const config = testConfig({ redis: { url: redis.tlsUrl } });
    const receiver = await startReceiver(config, { logger: silentLogger });
    try {
      const started = Date.now();
      expect((await post(receiver.port)).status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await receiver.close();
    }
  });

  it('names the path of a TLS file it cannot read, and refuses tls with redis://', () => {
    const missing = `${certificates.dir}/nope.pem`;
    expect(() => testConfig({ redis: { url: redis.tlsUrl, tls: { ca: missing } } })).toThrow(ConfigError);
    expect(() => testConfig({ redis: { url: redis.tlsUrl, tls: { ca: missing } } })).toThrow(`redis.tls.ca: cannot read ${missing} (ENOENT)`);
    expect(() => testConfig({ redis: { url: redis.server.url, tls: { ca: certificates.ca } } })).toThrow('redis.tls is set but redis.url uses redis://');
    expect(() => testConfig({ redis: { url: redis.tlsUrl, tls: { cert: certificates.clientCert } } })).toThrow('cert and key go together');
  });
});
