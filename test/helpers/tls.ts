/**
 * A certificate authority, a server certificate for 127.0.0.1/localhost and a client certificate,
 * made with `openssl` in a temp dir, and a real `redis-server` speaking TLS with them (its plain
 * port stays open too, for the test's own inspection).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedisServer, type RedisServer } from './redis.js';

export interface TestCertificates {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  remove(): void;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** A CA and two certificates it signed: one for the server (SAN 127.0.0.1, localhost), one for a client. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'zego-relay-tls-'));
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=zego-relay test CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const name of ['server', 'client']) {
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=zego-relay test ${name}`);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsRedis {
  readonly server: RedisServer;
  /** `rediss://127.0.0.1:TLS_PORT` */
  readonly tlsUrl: string;
}

/** A redis-server with a TLS port that requires a client certificate signed by the test CA. */
export async function startTlsRedis(certificates: TestCertificates): Promise<TlsRedis> {
  const tlsPort = await freePort();
  const server = await startRedisServer({
    appendfsync: 'everysec',
    extraArgs: [
      '--tls-port', String(tlsPort),
      '--tls-cert-file', certificates.serverCert,
      '--tls-key-file', certificates.serverKey,
      '--tls-ca-cert-file', certificates.ca,
      '--tls-auth-clients', 'yes',
    ],
  });
  return { server, tlsUrl: `rediss://127.0.0.1:${tlsPort}` };
}
