/**
 * Debian's /usr/bin/chromium driven by playwright-core, for the browser tests. Skipped only when
 * chromium is absent outside CI; in CI (.ci/run installs it) it must run.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
if (!chromiumAvailable && process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: apt-get install -y chromium (.ci/run does)`);

/** Headless on a shared 2-core machine: no sandbox (containers), GPU, QUIC or background traffic. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
