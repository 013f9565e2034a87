import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { eventMatches, matchTargets } from '../../src/targets/match.js';

const config = parseConfig(`
zego: { apps: [{ appId: "1", callbackSecrets: [s] }, { appId: "2", callbackSecrets: [s] }] }
targets:
  - { name: billing, url: "http://127.0.0.1:1/", events: [mix_stop] }
  - { name: mixes, url: "http://127.0.0.1:1/", events: ["mix_*"], appIds: ["2"] }
  - { name: everything, url: "http://127.0.0.1:1/", events: ["*"] }
  - { name: rooms, url: "http://127.0.0.1:1/", events: [room_create, room_close], appIds: ["1"] }
`, { env: {} });

const names = (event: string, appId: string) => matchTargets(config.targets, event, appId).map((target) => target.name);

describe('routing', () => {
  it.each([
    ['mix_stop', 'mix_stop', true],
    ['mix_stop', 'mix_start', false],
    ['mix_*', 'mix_start', true],
    ['mix_*', 'mix_', true],
    ['mix_*', 'mixer', false],
    ['*', 'anything', true],
    ['room_create', 'room_create_extra', false],
  ] as const)('pattern %s %s %s', (pattern, event, expected) => expect(eventMatches(pattern, event)).toBe(expected));

  it('sends a callback to every matching target, in configuration order', () => {
    expect(names('mix_stop', '2')).toEqual(['billing', 'mixes', 'everything']);
    expect(names('mix_stop', '1')).toEqual(['billing', 'everything']);
  });

  it('filters by app id when a target names apps', () => {
    expect(names('room_create', '1')).toEqual(['everything', 'rooms']);
    expect(names('room_create', '2')).toEqual(['everything']);
  });

  it('matches nothing when no pattern fits (the callback is then unrouted)', () => {
    const narrow = config.targets.filter((target) => target.name !== 'everything');
    expect(matchTargets(narrow, 'stream_create', '1')).toEqual([]);
  });
});
