/**
 * One process per spool directory. Two receivers appending to and deleting the same segments would
 * lose callbacks, so the first one holds a lock file (`lock`: host and pid) and touches it every
 * few seconds. Another process finds it:
 * - on the same host, held by a process that is gone (or by its own pid: a container restarted
 *   with the same pid): taken over at once;
 * - otherwise taken over once nobody has touched it for `staleMs` (the holder died on another
 *   host, or in a container that was replaced); while it stays fresh, start-up fails with
 *   SpoolDirectoryBusyError.
 */
import { open, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../lib/logger.js';

export interface LockTiming {
  /** How often the holder touches the file. @defaultValue 5000 */
  readonly touchEveryMs: number;
  /** Untouched this long: its holder is gone. @defaultValue 20000 */
  readonly staleMs: number;
}

const DEFAULT_TIMING: LockTiming = { touchEveryMs: 5_000, staleMs: 20_000 };

export class SpoolDirectoryBusyError extends Error {
  constructor(dir: string, holder: string) {
    super(`the spool directory ${dir} is in use by another process (${holder}): give every receiver a spool.dir of its own`);
    this.name = 'SpoolDirectoryBusyError';
  }
}

export interface SpoolLock {
  release(): Promise<void>;
}

interface Holder {
  host: string;
  pid: number;
}

export async function lockSpoolDirectory(dir: string, logger: Logger, timing: LockTiming = DEFAULT_TIMING): Promise<SpoolLock> {
  const { touchEveryMs, staleMs } = timing;
  const path = join(dir, 'lock');
  const me: Holder = { host: hostname(), pid: process.pid };
  const giveUpAt = Date.now() + staleMs + 2 * touchEveryMs;
  for (;;) {
    if (await createLock(path, me)) break;
    const found = await readHolder(path);
    if (!found) continue;
    if (isAbandoned(found.holder, me) || Date.now() - found.touchedAt > staleMs) {
      logger.warn({ dir, holder: found.holder }, 'took over the spool directory from a process that is gone');
      await writeFile(path, JSON.stringify(me));
      break;
    }
    if (Date.now() >= giveUpAt) throw new SpoolDirectoryBusyError(dir, `pid ${found.holder.pid} on ${found.holder.host}`);
    await sleep(Math.min(1_000, touchEveryMs));
  }
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, touchEveryMs);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      const found = await readHolder(path);
      if (found && found.holder.host === me.host && found.holder.pid === me.pid) await unlink(path).catch(() => {});
    },
  };
}

/** True when the lock file was created for `me` (it did not exist). */
async function createLock(path: string, me: Holder): Promise<boolean> {
  try {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(JSON.stringify(me));
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Undefined when the file went away meanwhile (its holder released it). */
async function readHolder(path: string): Promise<{ holder: Holder; touchedAt: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const parsed = JSON.parse(text) as Partial<Holder>;
    const holder = { host: String(parsed.host ?? ''), pid: Number(parsed.pid ?? 0) };
    return { holder, touchedAt: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable (cut short by a crash): nobody can be shown to hold it; treat as untouched long ago.
    return { holder: { host: '', pid: 0 }, touchedAt: 0 };
  }
}

function isAbandoned(holder: Holder, me: Holder): boolean {
  if (holder.host !== me.host) return false;
  if (holder.pid === me.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
