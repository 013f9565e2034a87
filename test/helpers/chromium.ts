/**
 * A real headless Chromium for the Bull Board tests: Debian's /usr/bin/chromium driven by
 * playwright-core (which downloads no browser of its own). Tests skip only when it is absent
 * outside CI; in CI (.ci/run installs it) its absence is an error.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
if (!chromiumAvailable && process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: apt-get install -y chromium (.ci/run does)`);

/** Flags for a quiet browser on a shared machine: no sandbox (root in CI), no GPU, no network chatter. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface BrowserSession {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** A browser with a fresh profile that answers basic-auth prompts with `credentials`. */
export async function openBrowser(credentials: { username: string; password: string }): Promise<BrowserSession> {
  const profile = mkdtempSync(join(tmpdir(), 'zego-relay-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    httpCredentials: credentials,
    viewport: { width: 1400, height: 900 },
    timeout: 20_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
