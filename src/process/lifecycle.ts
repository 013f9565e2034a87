/**
 * How a relay process runs until it is told to stop, shared by `zego-relay start` (every role) and
 * the bare worker process (workers/main.ts): SIGTERM/SIGINT or a start-up failure stop it once,
 * parts close in CLOSE_ORDER, bounded by delivery.shutdownTimeout plus some slack, and a second
 * signal forces the exit at once.
 */
import type { RelayConfig } from '../config/load.js';
import { RELAY_VERSION } from '../shared/version.js';
import type { Logger } from '../lib/logger.js';
import { startTracing } from '../trace/tracing.js';
import { ExitCode } from './exit-code.js';

/** On top of delivery.shutdownTimeout: time for listeners and Redis to close before exit is forced. */
const SHUTDOWN_SLACK_MS = 10_000;

/**
 * What start-up opened, closed in this order: stop taking callbacks first, stop Redis last. Tracing
 * once the receiver and workers have ended their last spans, so those are exported too.
 */
const CLOSE_ORDER = ['receiver', 'workers', 'tracing', 'admin', 'redis'] as const;
export type Part = (typeof CLOSE_ORDER)[number];

/** What a process needs to run: its config, its logger, how to start its parts. */
export interface RunOptions {
  readonly config: RelayConfig;
  readonly logger: Logger;
  /** Starts the parts, handing each to `lifecycle.adopt` as soon as it is up. */
  readonly start: (lifecycle: Lifecycle) => Promise<void>;
  /** Tells the operator why start-up failed (the process then stops with exit code 1). */
  readonly onStartFailure: (error: unknown) => void;
}

/**
 * Starts the parts and resolves with the exit code once the process has stopped. Start-up runs on
 * its own so that a signal (or a start-up failure) ends the process even while a part is still
 * waiting for Redis.
 */
export async function runUntilStopped(options: RunOptions): Promise<number> {
  const lifecycle = new Lifecycle(options.config, options.logger);
  // Before any part starts: the receiver's first callback and every target's client see it on.
  const tracing = startTracing(options.config.tracing, { logger: options.logger, version: RELAY_VERSION });
  if (tracing) void lifecycle.adopt('tracing', () => tracing.close());
  const onSignal = (signal: NodeJS.Signals) => void lifecycle.stop(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  options.start(lifecycle).catch((error: unknown) => {
    // A part that fails because a stop request closed what it depended on is no start-up failure.
    if (lifecycle.stopping) return;
    options.onStartFailure(error);
    void lifecycle.stop('start-up failure', { failed: true });
  });
  const code = await lifecycle.done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}

/** The process's parts and their shutdown: once, in CLOSE_ORDER, bounded in time. */
export class Lifecycle {
  private readonly parts = new Map<Part, () => Promise<void>>();
  private stopped: Promise<number> | undefined;
  private failed = false;
  private resolveDone: (code: number) => void = () => {};
  /** Resolves with the exit code once the process has stopped (or the exit was forced). */
  readonly done = new Promise<number>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly config: RelayConfig,
    private readonly logger: Logger,
  ) {}

  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /** Registers a started part; a part that finished starting after a stop request is closed at once. */
  async adopt(part: Part, close: () => Promise<void>): Promise<void> {
    this.parts.set(part, close);
    if (this.stopped) await this.closePart(part);
  }

  /** Stops the process once; `failed` makes the exit code 1 (a start-up failure). */
  stop(reason: string, options: { failed?: boolean } = {}): Promise<number> {
    if (options.failed) this.failed = true;
    if (this.stopped) {
      if (reason === 'SIGINT' || reason === 'SIGTERM') {
        this.logger.warn({ signal: reason }, 'second signal: exiting now without waiting for deliveries in flight');
        this.resolveDone(ExitCode.failure);
      }
      return this.stopped;
    }
    this.logger.info({ reason }, 'zego-relay stopping');
    this.stopped = this.closeAll();
    return this.stopped;
  }

  private async closeAll(): Promise<number> {
    const bound = this.config.delivery.shutdownTimeout + SHUTDOWN_SLACK_MS;
    const forced = setTimeout(() => {
      this.logger.error({ afterMs: bound }, 'shutdown took too long: exiting anyway');
      this.resolveDone(ExitCode.failure);
    }, bound);
    forced.unref();
    let clean = true;
    for (const part of CLOSE_ORDER) clean = (await this.closePart(part)) && clean;
    clearTimeout(forced);
    const code = clean && !this.failed ? ExitCode.ok : ExitCode.failure;
    this.logger.info({ exitCode: code }, 'zego-relay stopped');
    this.resolveDone(code);
    return code;
  }

  private async closePart(part: Part): Promise<boolean> {
    const close = this.parts.get(part);
    if (!close) return true;
    this.parts.delete(part);
    try {
      await close();
      this.logger.info({ part }, 'stopped');
      return true;
    } catch (error) {
      this.logger.error({ part, err: error instanceof Error ? error.message : String(error) }, 'did not stop cleanly');
      return false;
    }
  }
}
