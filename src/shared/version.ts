/**
 * The relay's version, read once from package.json: the `user-agent` of every delivery, the
 * spans' service.version, `zego-relay --version` and the start-up banner. The file is found by
 * walking up from this module, because the compiled copy (dist/src/shared) sits one directory
 * deeper than the source.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version in the nearest package.json named zego-relay above `directory`, or 0.0.0. */
export function packageVersion(directory = dirname(fileURLToPath(import.meta.url))): string {
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

/** package.json's version. */
export const RELAY_VERSION = packageVersion();
