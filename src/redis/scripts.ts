/** Our own Lua scripts as commands of a connection (ioredis runs them with EVALSHA, EVAL on NOSCRIPT). */
import type { RedisConnection } from './connection.js';

/**
 * Defines each script (name -> Lua, one key each) on `connection` once, however many stores share
 * it, and returns the connection typed with those commands.
 */
export function withScripts<Commands>(connection: RedisConnection, scripts: Readonly<Record<keyof Commands & string, string>>): RedisConnection & Commands {
  for (const [name, lua] of Object.entries<string>(scripts)) {
    if (!(name in connection)) connection.defineCommand(name, { numberOfKeys: 1, lua });
  }
  return connection as RedisConnection & Commands;
}
