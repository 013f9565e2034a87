#!/usr/bin/env node
// The published entry point: runs the compiled CLI. `npm ci` builds it (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('zego-relay: not built yet. Run `npm run build` (or `npm ci`) in the project folder first.\n');
  process.exit(2);
}
await import(cli.href);
