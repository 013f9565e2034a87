/**
 * The format of the relay's logs: JSON lines when stdout is not a terminal (a pipe, a file, a log
 * collector), one readable line an event at a terminal in development mode, LOG_FORMAT=json|pretty
 * overriding both; secrets are redacted in either format. The terminal is a real pseudo-terminal
 * (util-linux `script`). Each run is a `zego-relay start` that fails fast on a port in use, so it
 * logs its start, its failure and its stop, then exits by itself.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseLogFormat } from '../../src/lib/logger.js';
import { BIN, runCli, type CliResult } from '../helpers/cli.js';
import { useTestRedis } from '../helpers/redis.js';
import { testConfigObject } from '../helpers/config.js';

const SCRIPT = '/usr/bin/script';
const LOGGER = fileURLToPath(new URL('../../dist/src/lib/logger.js', import.meta.url));
/** A pretty line: `[15:47:33.144] INFO: zego-relay starting {"role":"all",...}`. */
const PRETTY_START = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: zego-relay starting \{.*"role":"all"/m;
const stripColours = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');

const redis = useTestRedis();
let busy: Server;
let dir = '';

beforeAll(async () => {
  busy = createServer((_request, response) => response.end());
  busy.listen(0, '127.0.0.1');
  await new Promise((resolve) => busy.once('listening', resolve));
  dir = mkdtempSync(join(tmpdir(), 'zego-relay-logging-'));
  for (const mode of ['development', 'production'] as const) {
    const config = testConfigObject({ redisUrl: redis.url, mode, serverPort: (busy.address() as AddressInfo).port });
    writeFileSync(join(dir, `${mode}.yaml`), JSON.stringify(config));
  }
});
afterAll(async () => {
  busy?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `zego-relay start` in `mode` with stdout piped to the test. */
function startPiped(mode: 'development' | 'production', env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(['start', '--config', `${mode}.yaml`], { cwd: dir, env: { REDIS_URL: redis.url, ...env } });
}

/** `zego-relay start` in `mode` with stdout (and stderr) on a pseudo-terminal; resolves with what it showed. */
function startOnTerminal(mode: 'development' | 'production', env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; shown: string }> {
  const { LOG_LEVEL: _level, LOG_FORMAT: _format, ...inherited } = process.env;
  const child = spawn(SCRIPT, ['-qec', `${process.execPath} ${BIN} start --config ${mode}.yaml`, '/dev/null'], {
    cwd: dir,
    env: { ...inherited, REDIS_URL: redis.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let shown = '';
  child.stdout.on('data', (chunk: Buffer) => (shown += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (shown += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, shown: stripColours(shown) });
    });
  });
}

function expectJsonLines(stdout: string): void {
  const lines = stdout.trim().split('\n');
  expect(lines.length).toBeGreaterThan(3);
  for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  expect(stdout).toContain('"msg":"zego-relay starting"');
}

describe('chooseLogFormat', () => {
  it('is pretty only at a terminal in development mode, unless LOG_FORMAT says otherwise', () => {
    expect(chooseLogFormat({ requested: undefined, stdoutIsTty: true, mode: 'development' })).toBe('pretty');
    expect(chooseLogFormat({ requested: undefined, stdoutIsTty: false, mode: 'development' })).toBe('json');
    expect(chooseLogFormat({ requested: undefined, stdoutIsTty: true, mode: 'production' })).toBe('json');
    expect(chooseLogFormat({ requested: 'json', stdoutIsTty: true, mode: 'development' })).toBe('json');
    expect(chooseLogFormat({ requested: 'pretty', stdoutIsTty: false, mode: 'production' })).toBe('pretty');
  });
});

describe('zego-relay start logs', () => {
  it('are JSON lines when stdout is not a terminal, even in development mode', async () => {
    const result = await startPiped('development');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('a port is already in use');
    expectJsonLines(result.stdout);
  });

  it('are one readable line an event with LOG_FORMAT=pretty', async () => {
    const result = await startPiped('production', { LOG_FORMAT: 'pretty' });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(PRETTY_START);
    expect(result.stdout).toMatch(/^\[[\d:.]+\] ERROR: zego-relay could not start \{/m);
    expect(result.stdout).toMatch(/^\[[\d:.]+\] INFO: zego-relay stopped \{.*"exitCode":1/m);
    expect(result.stdout).not.toMatch(/^\{/m);
    // No colours outside a terminal.
    expect(result.stdout).not.toContain('\x1b[');
  });

  it('refuses an unknown LOG_FORMAT', async () => {
    const result = await startPiped('development', { LOG_FORMAT: 'yaml' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('LOG_FORMAT must be one of json, pretty, got "yaml"');
  });

  it.skipIf(!existsSync(SCRIPT))('are pretty at a terminal in development mode, JSON there in production or with LOG_FORMAT=json', async () => {
    const development = await startOnTerminal('development');
    expect(development.code).toBe(1);
    expect(development.shown).toMatch(PRETTY_START);
    expect(development.shown).not.toMatch(/^\{"level"/m);

    for (const [mode, env] of [['production', {}], ['development', { LOG_FORMAT: 'json' }]] as const) {
      const run = await startOnTerminal(mode, env);
      expect(run.code).toBe(1);
      expect(run.shown).toMatch(/^\{"level":30,.*"msg":"zego-relay starting"\}$/m);
      expect(run.shown).not.toMatch(PRETTY_START);
    }
  }, 60_000);
});

describe('redaction', () => {
  it('applies in both formats', async () => {
    const program = `import { createLogger } from ${JSON.stringify(LOGGER)};
      createLogger('info', process.argv[1]).info({ password: 'Hunter2-pw', headers: { authorization: 'Bearer Tok-123' }, secret: 'S3cret-x' }, 'hello');`;
    for (const format of ['json', 'pretty']) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', program, format], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      await new Promise((resolve) => child.once('close', resolve));
      expect(stdout, format).toContain('hello');
      expect(stdout, format).toContain('[redacted]');
      for (const secret of ['Hunter2-pw', 'Tok-123', 'S3cret-x']) expect(stdout, format).not.toContain(secret);
      if (format === 'pretty') expect(stdout).toMatch(/^\[[\d:.]+\] INFO: hello \{/);
      else expect(JSON.parse(stdout)).toMatchObject({ msg: 'hello', password: '[redacted]' });
    }
  });
});
