/**
 * Runs an HTTP server in its own Node process, so the load generator and the server under test
 * never share an event loop. The child reports its port over IPC: `process.send({ port })`.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface ChildServer {
  port: number;
  stop(): Promise<void>;
}

/** Forks a benchmark process: stdout (JSON logs) discarded, stderr shown, IPC for "ready". */
export function forkBenchChild(module: string | URL, args: readonly string[] = [], env: Record<string, string> = {}): ChildProcess {
  return fork(module, [...args], {
    env: { ...process.env, ...env },
    // stdout (the relay's JSON logs) goes nowhere, as with a log shipper that keeps up.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    // BENCH_PROFILE_DIR=dir writes a .cpuprofile of each process (open it in Chrome DevTools).
    execArgv: process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR] : [],
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopBenchChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(force);
}

/** Forks `module` with `env` and resolves once it reported its port (or rejects after 15 s). */
export async function startChildServer(module: URL, env: Record<string, string> = {}): Promise<ChildServer> {
  const child = forkBenchChild(module, [], env);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${module.pathname} did not start within 15 s`)), 15_000);
    child.once('message', (message: { port?: number }) => {
      clearTimeout(timer);
      if (typeof message.port === 'number') resolve(message.port);
      else reject(new Error(`${module.pathname} sent ${JSON.stringify(message)}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${module.pathname} exited with ${code}`));
    });
  });
  return { port, stop: () => stopBenchChild(child) };
}
