/** The version is read once, from package.json, by src/shared/version.ts; everything shows that one. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { USER_AGENT } from '../../workers/deliver/user-agent.js';
import { packageVersion, RELAY_VERSION } from '../../src/shared/version.js';

const manifest = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };

const directory = mkdtempSync(join(tmpdir(), 'zego-relay-version-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('the relay version', () => {
  it("is package.json's, and the deliveries' user-agent carries it", () => {
    expect(RELAY_VERSION).toBe(manifest.version);
    expect(USER_AGENT).toBe(`zego-relay/${manifest.version}`);
  });

  it("walks up past another package's package.json to the relay's own", () => {
    const inner = join(directory, 'relay', 'node_modules', 'other', 'dist');
    mkdirSync(inner, { recursive: true });
    writeFileSync(join(directory, 'relay', 'package.json'), JSON.stringify({ name: 'zego-relay', version: '9.8.7' }));
    writeFileSync(join(directory, 'relay', 'node_modules', 'other', 'package.json'), JSON.stringify({ name: 'other', version: '1.0.0' }));
    expect(packageVersion(inner)).toBe('9.8.7');
  });

  it('is 0.0.0 when no package.json of the relay is found', () => {
    const alone = join(directory, 'alone');
    mkdirSync(alone);
    expect(packageVersion(alone)).toBe('0.0.0');
  });
});
