/**
 * `user-agent: zego-relay/VERSION`, VERSION from package.json. Found by walking up from this file
 * because the compiled copy (dist/src/deliver) sits one directory deeper than the source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageVersion(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(directory, 'package.json');
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'zego-relay' && manifest.version) return manifest.version;
    }
    const parent = dirname(directory);
    if (parent === directory) return '0.0.0';
    directory = parent;
  }
}

/** package.json's version (also the spans' service.version). */
export const RELAY_VERSION = packageVersion();

export const USER_AGENT = `zego-relay/${RELAY_VERSION}`;
