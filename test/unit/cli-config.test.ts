/**
 * Every command that reads the config says the same thing about one that is invalid or missing:
 * `zego-relay COMMAND: <the path of each value at fault>`, exit 1, and nothing on stdout. Runs
 * the commands in-process (no build, no Redis: they stop before connecting).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { checkConfigCommand } from '../../src/cli/check-config.js';
import { type Command } from '../../src/cli/command.js';
import { ExitCode } from '../../src/process/exit-code.js';
import { dropQueueCommand } from '../../src/cli/drop-queue.js';
import { rejectedCommand } from '../../src/cli/rejected.js';
import { replayCommand } from '../../src/cli/replay.js';
import { startCommand } from '../../src/cli/start.js';
import { silentLogger } from '../../src/lib/logger.js';

const directory = mkdtempSync(join(tmpdir(), 'zego-relay-cli-config-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const invalid = join(directory, 'invalid.yaml');
writeFileSync(invalid, 'zego:\n  apps: []\ntargets:\n  - name: Billing!\n    url: nowhere\n');

async function run(command: Command, args: readonly string[]) {
  const output = { stdout: '', stderr: '' };
  const sink = (key: 'stdout' | 'stderr') => new Writable({ write: (chunk: Buffer, _encoding, done) => { output[key] += chunk.toString(); done(); } });
  const code = await command.run(args, { stdout: sink('stdout'), stderr: sink('stderr'), env: {}, logger: () => silentLogger });
  return { code, ...output };
}

const commands: Array<[Command, string[]]> = [
  [checkConfigCommand, ['--offline']],
  [startCommand, []],
  [replayCommand, ['--target', 'billing']],
  [dropQueueCommand, ['--target', 'old']],
  [rejectedCommand, []],
];

describe.each(commands)('a command with an invalid config', (command, args) => {
  it(`${command.name}: names the command and each value at fault, and exits 1`, async () => {
    const result = await run(command, [...args, '--config', invalid]);
    expect(result.code).toBe(ExitCode.failure);
    expect(result.stdout).toBe('');
    expect(result.stderr.startsWith(`zego-relay ${command.name}: ${invalid}: invalid configuration`)).toBe(true);
    for (const path of ['zego.apps', 'targets[0].name', 'targets[0].url']) expect(result.stderr).toContain(path);
  });

  it(`${command.name}: says the file cannot be read when it is missing`, async () => {
    const result = await run(command, [...args, '--config', join(directory, 'missing.yaml')]);
    expect(result.code).toBe(ExitCode.failure);
    expect(result.stderr).toMatch(new RegExp(`^zego-relay ${command.name}: .*cannot read the file`, 's'));
  });
});
