/**
 * Who may open Bull Board in this run. The config is frozen, so a password generated at start-up
 * lives here, derived once by `start`, rather than written back into `config.admin`.
 */
import { randomBytes } from 'node:crypto';
import type { RelayConfig } from '../config/load.js';

export interface AdminCredentials {
  readonly username: string;
  readonly password: string;
  /** True when `start` made the password up for this run (development mode, no admin.password). */
  readonly generated: boolean;
}

/** How `start` opens Bull Board with a config: its password, one generated per run, or not at all. */
export type BullBoardAccess = 'configured' | 'generated' | 'off';

/** Hosts only this machine reaches (a listener's host, or a URL's hostname such as `[::1]`). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * admin.password when set. Without one, development mode on a loopback admin listener gets a
 * password generated at each start, so a new user sees the queues at once; production (or an
 * admin listener reachable from the network) stays off.
 */
export function bullBoardAccess(config: RelayConfig): BullBoardAccess {
  if (config.admin.password) return 'configured';
  return config.mode === 'development' && isLoopback(config.admin.host) ? 'generated' : 'off';
}

/** The configured credentials, or undefined (Bull Board off). */
export function configuredAdminCredentials(config: RelayConfig): AdminCredentials | undefined {
  const { username, password } = config.admin;
  return password ? { username, password, generated: false } : undefined;
}

/** 144 random bits, URL-safe so that it can be typed or pasted anywhere. */
export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}

/** The credentials of one run of `start`, per {@link bullBoardAccess}. */
export function runAdminCredentials(config: RelayConfig, generate: () => string = randomPassword): AdminCredentials | undefined {
  switch (bullBoardAccess(config)) {
    case 'configured':
      return configuredAdminCredentials(config);
    case 'generated':
      return { username: config.admin.username, password: generate(), generated: true };
    case 'off':
      return undefined;
  }
}
