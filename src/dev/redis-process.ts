/**
 * A redis-server child process started from PATH on a free port with its own data dir. Tests use it
 * to kill (SIGKILL), restart on the same port and data dir (AOF) or stall (SIGSTOP) Redis; the
 * benchmark and `npm start`'s private Redis use it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServerOptions {
  /** Turn AOF on with this fsync policy; omitted: no persistence at all. */
  appendfsync?: 'always' | 'everysec' | 'no';
  port?: number;
  dir?: string;
  /**
   * Run in its own process group, so a Ctrl-C in the terminal reaches only the relay, which then
   * stops Redis last, after its workers have finished with it (npm start's private Redis).
   */
  ownProcessGroup?: boolean;
  /** More `--name value` arguments (a TLS port, cluster mode, replication), after the defaults. */
  extraArgs?: readonly string[];
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** SIGKILL, no chance to save anything it has not already written. */
  kill(): Promise<void>;
  /** Start again on the same port and data dir. */
  restart(): Promise<void>;
  /** SIGSTOP: the port stays open but nothing answers (a stalled Redis). */
  pause(): void;
  resume(): void;
  /** Kill and remove the data dir. */
  stop(): Promise<void>;
  /** SIGTERM: Redis's own SHUTDOWN (flushes and fsyncs the AOF), then waits for the exit; keeps the data dir. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'zego-relay-redis-'));
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--maxmemory-policy', 'noeviction', '--loglevel', 'warning',
    ...(options.appendfsync ? ['--appendonly', 'yes', '--appendfsync', options.appendfsync] : ['--appendonly', 'no']),
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;

  const launch = async () => {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'], detached: options.ownProcessGroup ?? false });
    child = started;
    // A missing binary or a port already taken ends the child at once: fail the start, don't poll on.
    let failure: Error | undefined;
    started.once('error', (error) => (failure = new Error(`cannot start redis-server from PATH: ${error.message}`)));
    started.once('exit', (code, signal) => {
      failure ??= new Error(`redis-server exited during start-up (code ${code}, signal ${signal}); is port ${port} free?`);
    });
    await waitUntilAnswers(port, () => failure);
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGCONT');
    running.kill('SIGKILL');
    await exited;
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    kill,
    restart: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    shutdown: async (timeoutMs = 10_000) => {
      const running = child;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGCONT');
      running.kill('SIGTERM');
      const forced = setTimeout(() => running.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(forced);
      child = undefined;
    },
    stop: async () => {
      await kill();
      // A SIGKILLed Redis may leave its AOF-rewrite child writing into the dir for a moment.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

async function waitUntilAnswers(port: number, startFailure: () => Error | undefined, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failure = startFailure();
    if (failure) throw failure;
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      // Redis answers LOADING while it replays the AOF; wait for a real PONG.
      if ((await client.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}
