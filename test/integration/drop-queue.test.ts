/**
 * A target removed from the configuration leaves its queue in Redis, where nothing reads it any
 * more. `zego-relay drop-queue` shows what is left and, with --yes, deletes that queue and the
 * target's breaker state, and nothing of any other target; it refuses a target still configured.
 */
import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dropQueueCommand } from '../../src/cli/drop-queue.js';
import { breakerKey } from '../../src/targets/breaker-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { deliveryQueueName, queuePrefix } from '../../src/shared/names.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';

const redis = useTestRedis();
const harness = routerHarness(redis);

/** Runs the command in-process; resolves with its exit code and output. */
async function dropQueue(args: string[]) {
  const output = { stdout: '', stderr: '' };
  const sink = (key: 'stdout' | 'stderr') => new Writable({ write: (chunk: Buffer, _encoding, done) => { output[key] += chunk.toString(); done(); } });
  const code = await dropQueueCommand.run(args, { stdout: sink('stdout'), stderr: sink('stderr'), env: {}, logger: () => silentLogger });
  return { code, ...output };
}

/** Every key of a queue (its hash tag), by SCAN. */
async function keysOf(prefix: string, target: string): Promise<string[]> {
  const pattern = `${queuePrefix(prefix, deliveryQueueName(target)).replace(/[{}]/g, '\\$&')}*`;
  const keys: string[] = [];
  for await (const batch of redis.inspector.scanStream({ match: pattern, count: 1_000 }) as AsyncIterable<string[]>) keys.push(...batch);
  return keys;
}

describe('zego-relay drop-queue', () => {
  it("shows a removed target's stranded deliveries, deletes them with --yes, and leaves the other targets alone", async () => {
    // Before: billing and old both take mix_stop; three callbacks wait for each (no worker runs).
    const before = harness.configFor({ targets: [{ name: 'billing', events: ['mix_stop'] }, { name: 'old', events: ['mix_stop'] }] });
    const prefix = before.config.redis.prefix;
    await harness.routerRunning(before.config);
    await harness.storeCallbacks(before.config, 3);
    await harness.drained(before.config);
    await redis.inspector.hset(breakerKey(prefix, 'old'), 'failures', '4');
    const billing = harness.openQueue(before.config, deliveryQueueName('billing'));
    expect(await billing.getJobCounts('waiting')).toEqual({ waiting: 3 });

    // Still configured: refused, nothing deleted.
    const refused = await dropQueue(['--target', 'old', '--yes', '--config', before.file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('target "old" is still in the configuration');

    // After: old removed from the file. Without --yes it only shows what is there.
    const file = `${before.file}.after.yaml`;
    writeFileSync(file, JSON.stringify({ redis: { url: redis.url, prefix }, zego: before.config.zego, targets: [{ name: 'billing', url: 'http://127.0.0.1:9/', events: ['mix_stop'] }] }));
    const shown = await dropQueue(['--target', 'old', '--config', file]);
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    expect(shown.stdout).toContain('queue of target old: 3 waiting');
    expect(shown.stdout).toContain('nothing deleted: run again with --yes to delete these 3 jobs for good');
    expect(await keysOf(prefix, 'old')).not.toEqual([]);

    const dropped = await dropQueue(['--target', 'old', '--yes', '--config', file]);
    expect(dropped.code).toBe(0);
    expect(dropped.stdout).toContain('deleted the queue of target old (3 jobs) and its breaker state');
    expect(await keysOf(prefix, 'old')).toEqual([]);
    expect(await redis.inspector.exists(breakerKey(prefix, 'old'))).toBe(0);
    // billing's deliveries are all still there.
    expect(await billing.getJobCounts('waiting')).toEqual({ waiting: 3 });

    const again = await dropQueue(['--target', 'old', '--config', file]);
    expect(again.stdout).toContain('queue of target old: empty');
    expect(again.stdout).toContain('nothing to delete');
  });

  it('exits 1 with a message when Redis does not answer, and 2 without --target', async () => {
    const { file, config } = harness.configFor({ targets: [{ name: 'billing', events: ['mix_stop'] }] });
    writeFileSync(file, JSON.stringify({ redis: { url: 'redis://127.0.0.1:9', prefix: config.redis.prefix }, zego: config.zego }));
    const down = await dropQueue(['--target', 'old', '--config', file]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/zego-relay drop-queue: Redis \(.*\) did not answer within 5 s/);
    await expect(dropQueue(['--config', file])).rejects.toThrow('--target NAME is required');
  });
});
