/**
 * The `zego-relay` command as operators run it (compiled, spawned): help and exit codes,
 * check-config's report and warnings, simulate against real HTTP servers (ZEGO's signature and
 * retry schedule), and replay of a real dead letter.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { verifyZegoSignature } from '../../src/receive/signature.js';
import { parseConfig } from '../../src/config/load.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { runCli } from '../helpers/cli.js';
import { freePort, useTestRedis } from '../helpers/redis.js';
import { APP_ID, SECRET, testConfigObject } from '../helpers/config.js';
import { deadLettersAt } from '../helpers/dead-letters.js';

const dir = mkdtempSync(join(tmpdir(), 'zego-relay-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return path;
}

describe('help and exit codes', () => {
  it('prints help for every command with exit 0', async () => {
    const overview = await runCli(['--help']);
    expect(overview.code).toBe(0);
    expect(overview.stdout).toContain('RELAY_MODE');
    for (const command of ['start', 'check-config', 'replay', 'rejected', 'poisoned', 'simulate', 'drop-queue']) {
      expect(overview.stdout).toContain(command);
      const help = await runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`Usage: zego-relay ${command}`);
      expect(help.stdout).toContain('Exit codes');
    }
  });

  it('prints the version of package.json with --version and -v', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const result = await runCli([flag]);
      expect(result, flag).toMatchObject({ code: 0, stdout: `zego-relay ${version}\n` });
    }
  });

  it('exits 2 with a hint on usage errors', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    const unknown = await runCli(['deploy']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "deploy"');
    const badOption = await runCli(['check-config', '--colour']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain('Run zego-relay check-config --help');
    const missing = await runCli(['simulate', '--url', 'http://127.0.0.1:1/x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--app-id is required');
    const role = await runCli(['start', '--role', 'everything']);
    expect(role.code).toBe(2);
    expect(role.stderr).toContain('--role must be one of all, receiver, worker');
    const limit = await runCli(['poisoned', '--limit', '1001']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit must be at most 1000');
  });
});

describe('check-config', () => {
  it('prints targets and routes of a valid config, warns about doubtful settings, never prints secrets', async () => {
    const config = testConfigObject({ redisUrl: 'redis://127.0.0.1:9' });
    const path = writeConfig('doubtful.yaml', {
      ...config,
      zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET, 'changeme'] }] },
      targets: [
        ...(config.targets as object[]),
        { name: 'recording', url: 'https://rec.example.com/hook/Path-Token-9f?token=QueryTokenSecret', events: ['mix_stop', 'record'], signingSecret: 'whsec_c2lnbmluZ3NlY3JldC1vZi1hdC1sZWFzdC0yNC1ieXRlcw==', breaker: { openAfter: '10m' } },
        { name: 'other-app', url: 'https://other.example.com/hook', events: ['*'], appIds: ['999'], breaker: false },
      ],
    });
    const result = await runCli(['check-config', '--config', path]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('targets (3):');
    expect(result.stdout).toMatch(/mix_stop.* -> billing, recording/);
    expect(result.stdout).toMatch(/mix_start.* -> billing\n/);
    expect(result.stdout).toContain('zego.apps[0].callbackSecrets[1] looks like a placeholder');
    expect(result.stdout).toContain('targets[2] (other-app) matches nothing: appIds 999 are not among zego.apps');
    expect(result.stdout).toContain('admin.password is not set');
    expect(result.stdout).toContain('valid with 3 warning(s)');
    // Each target's breaker: the defaults, an override, off.
    expect(result.stdout.match(/ {4}breaker .*/g)).toEqual([
      '    breaker opens after 5m of failures only (at least 20), then probes every 30s',
      '    breaker opens after 10m of failures only (at least 20), then probes every 30s',
      '    breaker off',
    ]);
    // A target's URL: scheme, host, first path segment; the token in its path and its query masked.
    expect(result.stdout).toContain('  recording  https://rec.example.com/hook/***?***');
    for (const secret of [SECRET, 'changeme"', 'QueryTokenSecret', 'Path-Token-9f', 'c2lnbmluZ3NlY3JldA']) expect(result.stdout + result.stderr).not.toContain(secret);
    expect(result.stdout).toContain('spool: off (callbacks get 503 while Redis cannot take them)');
    const spooling = await runCli(['check-config', '--offline', '--config', writeConfig('spool.yaml', { ...config, spool: { dir: '/var/lib/zego-relay/spool', maxBytes: '2gb' } })]);
    expect(spooling.stdout).toContain('spool: /var/lib/zego-relay/spool (at most 2gb; callbacks are fsynced there while Redis cannot take them; one receiver per directory)');
  });

  it('reads RELAY_CONFIG and exits 1 naming the path of each bad value', async () => {
    const path = writeConfig('bad.yaml', 'zego:\n  apps: []\ntargets:\n  - name: Bad_Name\n    url: ftp://x\n    events: [mix_stop]\n');
    const result = await runCli(['check-config'], { env: { RELAY_CONFIG: path } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('zego.apps');
    expect(result.stderr).toContain('targets[0].name');
    expect(result.stderr).toContain('targets[0].url');
    const missing = await runCli(['check-config', '--config', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the file');
  });
});

/** A callback endpoint that verifies ZEGO's signature, remembers nonces and fails the first `failFirst` tries of each callback. */
async function zegoEndpoint(failFirst: number) {
  const triesByTask = new Map<string, number>();
  const nonces = new Set<string>();
  let badSignatures = 0;
  const server: Server = createServer((request: IncomingMessage, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const body = JSON.parse(text) as Record<string, string>;
      if (!verifyZegoSignature([SECRET], String(body.timestamp), body.nonce!, body.signature!) || nonces.has(body.nonce!)) badSignatures += 1;
      nonces.add(body.nonce!);
      const tries = (triesByTask.get(body.task_id!) ?? 0) + 1;
      triesByTask.set(body.task_id!, tries);
      response.statusCode = tries <= failFirst ? 503 : 200;
      response.end(JSON.stringify({ ok: tries > failFirst, duplicate: false }));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/zego/callback`,
    triesByTask,
    badSignatures: () => badSignatures,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('simulate', () => {
  it("signs every try with a fresh nonce, retries like ZEGO and reports the run", async () => {
    const endpoint = await zegoEndpoint(2);
    try {
      const started = Date.now();
      const result = await runCli(['simulate', '--url', endpoint.url, '--app-id', APP_ID, '--secret', SECRET, '--count', '6', '--concurrency', '3', '--retry-scale', '0.01']);
      expect(result.code).toBe(0);
      expect(endpoint.badSignatures()).toBe(0);
      expect(endpoint.triesByTask.size).toBe(6);
      expect([...endpoint.triesByTask.values()]).toEqual([3, 3, 3, 3, 3, 3]);
      // Two retries each, 2 s and 4 s scaled by 0.01: at least 60 ms.
      expect(Date.now() - started).toBeGreaterThan(60);
      expect(result.stdout).toMatch(/sent: +6 callbacks/);
      expect(result.stdout).toMatch(/acknowledged: 6/);
      expect(result.stdout).toMatch(/retried: +6 callbacks \(12 retries\)/);
      expect(result.stdout).toMatch(/failed: +0/);
      expect(result.stdout).toMatch(/latency: +p50 [\d.]+ ms, p99 [\d.]+ ms/);
      expect(result.stdout).toContain('503: 12');
      expect(result.stderr).toContain('simulate: 6/6 done');
    } finally {
      await endpoint.close();
    }
  });

  it('takes the secret from ZEGO_CALLBACK_SECRET or --secret-file, and warns that --secret shows in the process list', async () => {
    const endpoint = await zegoEndpoint(0);
    const secretFile = join(dir, 'callback-secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    const args = ['simulate', '--url', endpoint.url, '--app-id', APP_ID, '--count', '2'];
    try {
      const fromEnvironment = await runCli(args, { env: { ZEGO_CALLBACK_SECRET: SECRET } });
      const fromFile = await runCli([...args, '--secret-file', secretFile]);
      const fromArgument = await runCli([...args, '--secret', SECRET]);
      for (const result of [fromEnvironment, fromFile, fromArgument]) {
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toMatch(/acknowledged: 2\b/);
      }
      expect(endpoint.badSignatures()).toBe(0);
      expect(fromArgument.stderr).toContain('--secret shows the secret to anyone who lists processes; prefer ZEGO_CALLBACK_SECRET or --secret-file');
      expect(fromEnvironment.stderr + fromFile.stderr).not.toContain('lists processes');

      const none = await runCli(args, { env: { ZEGO_CALLBACK_SECRET: '' } });
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('the callback secret is required: set ZEGO_CALLBACK_SECRET or give --secret-file FILE');
      const both = await runCli([...args, '--secret-file', secretFile, '--secret', SECRET]);
      expect(both.code).toBe(2);
      const missing = await runCli([...args, '--secret-file', join(dir, 'no-such-file')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('cannot read --secret-file');
    } finally {
      await endpoint.close();
    }
  });

  it('gives up after 5 retries and exits 1 when a callback is never acknowledged', async () => {
    const endpoint = await zegoEndpoint(Number.POSITIVE_INFINITY);
    try {
      const result = await runCli(['simulate', '--url', endpoint.url, '--app-id', APP_ID, '--secret', SECRET, '--count', '2', '--retry-scale', '0.001']);
      expect(result.code).toBe(1);
      expect([...endpoint.triesByTask.values()]).toEqual([6, 6]);
      expect(result.stdout).toMatch(/failed: +2/);
    } finally {
      await endpoint.close();
    }
  });
});

describe('replay', () => {
  const redis = useTestRedis();

  it('re-queues the dead letters of a target and refuses an unknown target', async () => {
    const config = testConfigObject({ redisUrl: redis.url });
    const path = writeConfig('replay.yaml', config);
    const options = (connection: Redis) => queueOptions(parseConfig(JSON.stringify(config), { env: {} }), deliveryQueueName('billing'), connection);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(deliveryQueueName('billing'), options(connection));
    try {
      const worker = new Worker(deliveryQueueName('billing'), async () => { throw new UnrecoverableError('410'); }, { ...options(connection), autorun: false });
      const failedTwice = new Promise<void>((resolve) => { let n = 0; worker.on('failed', () => { if (++n === 2) resolve(); }); });
      await queue.add('deliver', { callbackId: 'cb_a' }, { jobId: 'cb_a' });
      await queue.add('deliver', { callbackId: 'cb_b' }, { jobId: 'cb_b' });
      void worker.run();
      await failedTwice;
      await worker.close();

      const unknown = await runCli(['replay', '--target', 'nobody', '--config', path]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no target named "nobody"');

      const one = await runCli(['replay', '--target', 'billing', '--limit', '1', '--since', '1h', '--config', path]);
      expect(one.code).toBe(0);
      expect(one.stdout).toContain('re-queued 1 dead letter of target billing');
      expect(await queue.getJobCounts('failed', 'waiting')).toEqual({ failed: 1, waiting: 1 });
      const rest = await runCli(['replay', '--target', 'billing', '--config', path]);
      expect(rest.stdout).toContain('re-queued 1 dead letter of target billing');
      expect(await queue.getJobCounts('failed', 'waiting')).toEqual({ failed: 0, waiting: 2 });
      const badSince = await runCli(['replay', '--target', 'billing', '--since', 'yesterday', '--config', path]);
      expect(badSince.code).toBe(2);

      const nobodyHome = writeConfig('replay-down.yaml', testConfigObject({ redisUrl: `redis://127.0.0.1:${await freePort()}` }));
      const started = Date.now();
      const down = await runCli(['replay', '--target', 'billing', '--config', nobodyHome]);
      expect(down.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(down.stdout).toContain('re-queued 0 dead letters of target billing before stopping');
      expect(down.stderr).toMatch(/did not answer within 5 s: check that Redis runs/);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });

  it('re-queues only the named target\'s dead letters, and only those within --since', async () => {
    const object = testConfigObject({ redisUrl: redis.url, targets: [{ name: 'alpha' }, { name: 'beta' }] });
    const config = parseConfig(JSON.stringify(object), { env: {} });
    const path = writeConfig('replay-two.yaml', object);
    const now = Date.now();
    // Two targets, alpha listed first; each with dead letters from 2 h ago and from a minute ago.
    const dead = {
      alpha: [...await deadLettersAt(config, 'alpha', now - 7_200_000, 2), ...await deadLettersAt(config, 'alpha', now - 60_000, 2)],
      betaOld: await deadLettersAt(config, 'beta', now - 7_200_000, 2),
      betaRecent: await deadLettersAt(config, 'beta', now - 60_000, 2),
    };
    const result = await runCli(['replay', '--target', 'beta', '--since', '1h', '--config', path]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('re-queued 2 dead letters of target beta');
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queues = ['alpha', 'beta'].map((name) => new Queue(deliveryQueueName(name), queueOptions(config, deliveryQueueName(name), connection)));
    try {
      const [alpha, beta] = queues as [Queue, Queue];
      const states = (queue: Queue, ids: string[]) => Promise.all(ids.map((id) => queue.getJobState(id)));
      expect(await states(beta, dead.betaRecent)).toEqual(['waiting', 'waiting']);
      expect(await states(beta, dead.betaOld)).toEqual(['failed', 'failed']);
      expect(await states(alpha, dead.alpha)).toEqual(['failed', 'failed', 'failed', 'failed']);
    } finally {
      await Promise.all(queues.map((queue) => queue.close()));
      connection.disconnect();
    }
  });
});
