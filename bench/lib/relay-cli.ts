/**
 * The relay as operators run it: `node bin/zego-relay.js start --role ROLE --config FILE` (the
 * compiled CLI; `npm run build` first), in its own process group so that a SIGKILL takes the whole
 * relay down at once and a test's afterAll can always clean up. Used by the chaos test (kill and
 * restart) and the backlog benchmark (RSS over time).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readRssBytes } from './rss.js';

/** bin/zego-relay.js, from the source tree (bench/lib) or from dist/bench/lib. */
const BIN = ['../../bin/zego-relay.js', '../../../bin/zego-relay.js']
  .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
  .find((path) => existsSync(path))!;

/** Output kept for error messages: the tail, so a long run cannot grow the test's memory. */
const OUTPUT_TAIL_CHARS = 64 * 1024;

export interface RelayCliOptions {
  configFile: string;
  /** Set as REDIS_URL, so a relay started while Redis is down waits for it instead of starting a private one. */
  redisUrl: string;
  /** @defaultValue all */
  role?: 'all' | 'receiver' | 'worker';
  /** @defaultValue warn (per-callback info lines cost CPU the measurement needs) */
  logLevel?: string;
  /** @defaultValue 20000 */
  startTimeoutMs?: number;
}

export interface RelayExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RelayCli {
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<RelayExit>;
  hasExited(): boolean;
  /** The tail of stdout and stderr. */
  output(): string;
  /** Sends `signal` to the relay's process group and waits for the exit. @defaultValue SIGKILL */
  kill(signal?: NodeJS.Signals): Promise<RelayExit>;
  /** Resident set size in bytes (Linux /proc), or undefined once the process is gone. */
  rssBytes(): number | undefined;
}

/** Starts the relay and resolves once it printed its start-up banner. */
export async function startRelayCli(options: RelayCliOptions): Promise<RelayCli> {
  const { REDIS_URL: _url, RELAY_CONFIG: _config, LOG_LEVEL: _level, PORT: _port, ...inherited } = process.env;
  const child = spawn(process.execPath, [BIN, 'start', '--role', options.role ?? 'all', '--config', options.configFile], {
    env: { ...inherited, REDIS_URL: options.redisUrl, LOG_LEVEL: options.logLevel ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  let banner = false;
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    banner ||= /running: role/.test(output);
    listeners.forEach((listener) => listener());
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let exit: RelayExit | undefined;
  const exited = new Promise<RelayExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      listeners.forEach((listener) => listener());
      resolve(exit);
    });
  });
  const pid = child.pid!;

  const relay: RelayCli = {
    pid,
    exited,
    hasExited: () => exit !== undefined,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (exit) return exit;
      try {
        process.kill(-pid, signal);
      } catch {
        // Already gone (ESRCH).
      }
      return exited;
    },
    rssBytes: () => (exit ? undefined : readRssBytes(pid)),
  };

  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (banner) finish();
      else if (exit) finish(new Error(`the relay exited (${exit.code ?? exit.signal}) before it started:\n${output}`));
    };
    const timer = setTimeout(() => finish(new Error(`the relay did not start within ${options.startTimeoutMs ?? 20_000} ms:\n${output}`)), options.startTimeoutMs ?? 20_000);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      listeners.delete(check);
      if (!error) return resolve();
      void relay.kill().then(() => reject(error));
    };
    listeners.add(check);
    check();
  });
  return relay;
}
