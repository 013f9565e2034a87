/**
 * The `ordering` key of a target: how it parses, the errors it is refused with, what check-config
 * prints for it, and the warnings about key fields that would never name a useful key.
 */
import { describe, expect, it } from 'vitest';
import { describeConfig } from '../../src/cli/check-config.js';
import { configWarnings } from '../../src/roles/config-warnings.js';
import { parseConfig } from '../../src/config/load.js';
import { issuesOf } from '../helpers/config-issues.js';

const withTargets = (targets: string, extra = '') => `
zego:
  apps:
    - appId: "111111"
      callbackSecrets: ["k7Qm2vX9pL4sT8wZr1Nc"]
${extra}targets:
${targets}`;

const ordered = (key: string) => withTargets(`  - { name: rooms, url: "http://127.0.0.1:9/hook", events: ["*"], ordering: { key: ${key} } }\n  - { name: plain, url: "http://127.0.0.1:9/hook", events: ["*"] }\n`);

describe('targets[].ordering', () => {
  it('keeps the key fields in their order; a target without it is unordered', () => {
    const [rooms, plain] = parseConfig(ordered('[task_id, stream_alias, room_id]'), { env: {} }).targets;
    expect(rooms?.ordering).toEqual({ key: ['task_id', 'stream_alias', 'room_id'] });
    expect(plain?.ordering).toBeUndefined();
  });

  it.each([
    ['[]', 'targets[0].ordering.key: name at least one body field'],
    ['[task_id, task_id]', 'targets[0].ordering.key: names a field twice'],
    ['["room id"]', 'targets[0].ordering.key[0]: must be a body field name (letters, digits and _)'],
    ['task_id', expect.stringMatching(/^targets\[0\]\.ordering\.key: /)],
  ])('refuses key %s', (key, issue) => {
    expect(issuesOf(ordered(key))).toEqual([issue]);
  });

  it('refuses unknown keys under ordering', () => {
    expect(issuesOf(withTargets('  - { name: rooms, url: "http://127.0.0.1:9/hook", events: ["*"], ordering: { key: [room_id], window: 5s } }\n'))).toEqual([
      'targets[0].ordering.window: unknown key',
    ]);
  });

  it('is shown per target by check-config', () => {
    const lines = describeConfig(parseConfig(ordered('[task_id, room_id]'), { env: {}, source: 'test' })).filter((line) => line.startsWith('    ordering'));
    expect(lines).toEqual([
      '    ordering one delivery at a time per key, in acknowledgement order; key: task_id, else room_id (with the app id); callbacks without these fields unordered',
      '    ordering off (deliveries in parallel, up to the concurrency)',
    ]);
  });
});

describe('check-config warnings about ordering', () => {
  const warningsOf = (text: string) => configWarnings(parseConfig(text, { env: {} })).filter((warning) => warning.includes('ordering'));

  it('warns about a key field no documented event carries, and one that changes on every send', () => {
    expect(warningsOf(ordered('[task_id, rooom_id, nonce]'))).toEqual([
      'targets[0] (rooms).ordering.key "rooom_id" is carried by no documented ZEGO event: check the spelling (callbacks without any key field are delivered unordered)',
      'targets[0] (rooms).ordering.key "nonce" changes on every send: every callback would be a key of its own, and ZEGO\'s re-sends would not share one',
    ]);
    expect(warningsOf(ordered('[task_id, stream_alias, room_id, room_session_id]'))).toEqual([]);
  });

  it('says what several intake shards mean for the order', () => {
    const text = withTargets('  - { name: rooms, url: "http://127.0.0.1:9/hook", events: ["*"], ordering: { key: [room_id] } }\n', 'intake:\n  shards: 3\n');
    expect(warningsOf(text)).toEqual([
      "targets[0] (rooms).ordering with intake.shards 3: a key's callbacks acknowledged in the same millisecond, or within the Redis nodes' clock difference, may be delivered in either order (one shard keeps the exact order)",
    ]);
  });
});
