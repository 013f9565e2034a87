import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_SECRET, loadConfig, parseConfig } from '../../src/config/load.js';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/config/units.js';
import { issuesOf } from '../helpers/config-issues.js';

const minimal = `
zego:
  apps:
    - appId: "111111"
      callbackSecrets: ["s3cret"]
`;


describe('units', () => {
  it.each([
    ['500ms', 500], ['5s', 5000], ['5m', 300_000], ['2h', 7_200_000], ['3d', 259_200_000], ['1.5s', 1500], [250, 250], ['250', 250],
  ])('parses the duration %s as %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['5 parsecs', '-1s', 'h', '', '1w'])('rejects the duration %j', (text) => expect(parseDuration(text)).toBeUndefined());

  it.each([['256kb', 262_144], ['1mb', 1_048_576], ['512b', 512], [1000, 1000], ['1gb', 1_073_741_824], ['1.5gb', 1_610_612_736]])('parses the size %s', (text, bytes) =>
    expect(parseSize(text)).toBe(bytes),
  );

  it('formats sizes as an operator writes them', () => {
    expect([1_073_741_824, 536_870_912, 2048, 1500, 1, 1024 ** 3 + 1024].map(formatSize)).toEqual(['1gb', '512mb', '2kb', '1500b', '1b', '1048577kb']);
  });

  it('formats durations for humans', () => {
    expect(formatDuration(500)).toBe('500ms');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(86_400_000 + 3_600_000)).toBe('1d1h');
  });
});

describe('the example config/relay.yaml', () => {
  it('parses as it is, in development mode, with the demo target', () => {
    const config = loadConfig({ path: 'config/relay.yaml', env: {} });
    expect(config.mode).toBe('development');
    expect(config.server.bodyLimit).toBe(256 * 1024);
    expect(config.zego.apps[0]?.appId).toBe('111111');
    expect(config.zego.dedupeWindow).toBe(86_400_000);
    expect(config.targets.map((t) => t.name)).toEqual(['demo']);
    expect(config.targets[0]?.retry.schedule).toEqual([1000, 5000, 30_000]);
    expect(Object.isFrozen(config.targets[0]?.retry.schedule)).toBe(true);
  });

  it('refuses the development secret in production mode', () => {
    expect(() => loadConfig({ path: 'config/relay.yaml', env: { RELAY_MODE: 'production' } })).toThrow(/development secret/);
    const config = loadConfig({ path: 'config/relay.yaml', env: { RELAY_MODE: 'production', ZEGO_CALLBACK_SECRET: 'real' } });
    expect(config.zego.apps[0]?.callbackSecrets).toEqual(['real']);
  });

  // That it names every key of the schema: test/unit/config-reference.test.ts.
});

describe('spool', () => {
  it('is on by default: ./data/spool against the working directory, at most 1 GB', () => {
    const config = parseConfig(minimal, { env: {} });
    expect(config.spool).toEqual({ dir: join(process.cwd(), 'data', 'spool'), maxBytes: 1024 ** 3 });
  });

  it('takes a directory and a size, or false (also from a variable)', () => {
    expect(parseConfig(`${minimal}spool: { dir: /var/lib/zego-relay/spool, maxBytes: 2gb }\n`, { env: {} }).spool).toEqual({ dir: '/var/lib/zego-relay/spool', maxBytes: 2 * 1024 ** 3 });
    expect(parseConfig(`${minimal}spool: { dir: spool, maxBytes: 512mb }\n`, { env: {} }).spool).toEqual({ dir: join(process.cwd(), 'spool'), maxBytes: 512 * 1024 ** 2 });
    expect(parseConfig(`${minimal}spool: false\n`, { env: {} }).spool).toBe(false);
    expect(parseConfig(`${minimal}spool: \${SPOOL:-false}\n`, { env: {} }).spool).toBe(false);
  });

  it('names what is wrong with it', () => {
    expect(() => parseConfig(`${minimal}spool: { maxBytes: lots }\n`, { env: {} })).toThrow('spool.maxBytes: "lots" is not a size (use bytes or 512b, 256kb, 1mb, 1gb)');
    expect(() => parseConfig(`${minimal}spool: { path: /x }\n`, { env: {} })).toThrow('spool.path: unknown key');
    expect(() => parseConfig(`${minimal}spool: true\n`, { env: {} })).toThrow('spool: must be false or { dir, maxBytes }');
    expect(() => parseConfig(`${minimal}spool: { dir: "" }\n`, { env: {} })).toThrow('spool.dir:');
  });
});

describe('breaker', () => {
  const targets = (breakers: string) => `${minimal}${breakers}
targets:
  - { name: plain, url: "https://a.example.com/", events: ["*"] }
  - { name: tuned, url: "https://b.example.com/", events: ["*"], breaker: { probeInterval: 5s } }
  - { name: never, url: "https://c.example.com/", events: ["*"], breaker: false }
`;

  it('defaults to 5m / 20 / 30s, a target overrides single keys or turns it off', () => {
    const [plain, tuned, never] = parseConfig(targets(''), { env: {} }).targets;
    expect(plain?.breaker).toEqual({ openAfter: 300_000, minFailures: 20, probeInterval: 30_000 });
    expect(tuned?.breaker).toEqual({ openAfter: 300_000, minFailures: 20, probeInterval: 5_000 });
    expect(never?.breaker).toBe(false);
  });

  it('takes defaults.breaker in config durations; false turns it off except where a target sets its own', () => {
    const custom = parseConfig(targets('defaults:\n  breaker: { openAfter: 1m, minFailures: 3 }\n'), { env: {} }).targets;
    expect(custom.map((target) => target.breaker)).toEqual([
      { openAfter: 60_000, minFailures: 3, probeInterval: 30_000 },
      { openAfter: 60_000, minFailures: 3, probeInterval: 5_000 },
      false,
    ]);
    const off = parseConfig(targets('defaults:\n  breaker: false\n'), { env: {} }).targets;
    expect(off.map((target) => target.breaker)).toEqual([false, { openAfter: 300_000, minFailures: 20, probeInterval: 5_000 }, false]);
  });

  it('names a bad value by its path', () => {
    expect(issuesOf(targets('defaults:\n  breaker: { probeInterval: 0, openAfter: soon, extra: 1 }\n'))).toEqual(
      expect.arrayContaining([
        'defaults.breaker.extra: unknown key',
        expect.stringMatching(/^defaults\.breaker\.openAfter: "soon" is not a duration/),
        'defaults.breaker.probeInterval: must be at least 10ms',
      ]),
    );
    expect(issuesOf(targets('defaults:\n  breaker: true\n'))[0]).toMatch(/^defaults\.breaker: /);
  });
});

describe('parseConfig', () => {
  it('applies defaults and merges them into targets', () => {
    const config = parseConfig(`${minimal}
targets:
  - name: billing
    url: https://billing.example.com/hook
    events: [mix_stop]
    timeout: 10s
`, { env: {} });
    expect(config.mode).toBe('production');
    expect(config.server).toEqual({ host: '0.0.0.0', port: 8080, callbackPath: '/zego/callback', bodyLimit: 262_144 });
    expect(config.admin.password).toBeUndefined();
    const [billing] = config.targets;
    expect(billing?.timeout).toBe(10_000);
    expect(billing?.concurrency).toBe(20);
    expect(billing?.retry.schedule).toEqual([5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000]);
    expect(billing?.retry.jitter).toBe(0.2);
    expect(billing?.signingSecrets).toEqual([]);
  });

  it('replaces ${VAR} and ${VAR:-default} before validation, in values only', () => {
    const config = parseConfig(`
server: { port: "\${HTTP_PORT:-8081}" }
admin: { password: "\${ADMIN_PASSWORD}" }
zego:
  apps: [{ appId: "\${APP:-42}", callbackSecrets: ["\${SECRET}"] }]
`, { env: { SECRET: 'with "quotes" # and: colons' } });
    expect(config.server.port).toBe(8081);
    expect(config.zego.apps[0]).toEqual({ appId: '42', callbackSecrets: ['with "quotes" # and: colons'] });
    expect(config.admin.password).toBeUndefined();
  });

  it('lets RELAY_MODE override the file, in either direction, and names a bad value', () => {
    expect(parseConfig(minimal, { env: {} }).mode).toBe('production');
    expect(parseConfig(minimal, { env: { RELAY_MODE: 'development' } }).mode).toBe('development');
    expect(parseConfig(`mode: development\n${minimal}`, { env: { RELAY_MODE: 'production' } }).mode).toBe('production');
    expect(parseConfig(`mode: development\n${minimal}`, { env: { RELAY_MODE: '' } }).mode).toBe('development');
    expect(issuesOf(minimal, { RELAY_MODE: 'staging' })).toEqual(['mode: must be production or development (RELAY_MODE overrides the file)']);
    // The shipped production file (mode: production) follows it too.
    const production = loadConfig({ path: 'config/production.yaml', env: { ZEGO_APP_ID: '1', ZEGO_CALLBACK_SECRET: 'real', BILLING_URL: 'https://b.example.com/', RELAY_MODE: 'development' } });
    expect(production.mode).toBe('development');
  });

  it('ignores an empty callback secret while another is set, and refuses a list of empty ones', () => {
    const apps = (secrets: string) => `zego: { apps: [{ appId: "1", callbackSecrets: [${secrets}] }] }`;
    expect(parseConfig(apps('"${OLD}", "${NEXT:-}"'), { env: { OLD: 'old-secret' } }).zego.apps[0]?.callbackSecrets).toEqual(['old-secret']);
    expect(parseConfig(apps('"${OLD}", "${NEXT:-}"'), { env: { OLD: 'old-secret', NEXT: 'next-secret' } }).zego.apps[0]?.callbackSecrets).toEqual(['old-secret', 'next-secret']);
    expect(issuesOf(apps('"${OLD}", "${NEXT:-}"'))).toEqual([expect.stringMatching(/^zego\.apps\[0\]\.callbackSecrets\[0\]: .*environment variable/), expect.stringMatching(/^zego\.apps\[0\]\.callbackSecrets\[1\]: .*environment variable/)]);
  });

  it('bounds unrouted callbacks by age and by count', () => {
    expect(parseConfig(minimal, { env: {} }).retention).toMatchObject({ unroutedAge: 7 * 86_400_000, unroutedCount: 10_000 });
    expect(parseConfig(`${minimal}retention: { unroutedAge: 1d, unroutedCount: 0 }\n`, { env: {} }).retention).toMatchObject({ unroutedAge: 86_400_000, unroutedCount: 0 });
    expect(issuesOf(`${minimal}retention: { unroutedCount: -1 }\n`)).toEqual([expect.stringMatching(/^retention\.unroutedCount: /)]);
  });

  it('lets REDIS_URL and PORT override the file', () => {
    const config = parseConfig(minimal, { env: { REDIS_URL: 'redis://10.0.0.1:6380', PORT: '9000' } });
    expect(config.redis.url).toBe('redis://10.0.0.1:6380');
    expect(config.server.port).toBe(9000);
  });

  it('names the path of an unknown key', () => {
    expect(issuesOf(`${minimal}\nserver: { hots: 1.2.3.4 }\n`)).toEqual(['server.hots: unknown key']);
  });

  it('names the path of each bad value', () => {
    const issues = issuesOf(`${minimal}
targets:
  - name: Bad_Name
    url: ftp://x
    events: []
    retry: { schedule: [5 parsecs] }
`);
    expect(issues).toEqual(expect.arrayContaining([
      expect.stringMatching(/^targets\[0\]\.name: /),
      expect.stringMatching(/^targets\[0\]\.url: /),
      expect.stringMatching(/^targets\[0\]\.events: /),
      expect.stringMatching(/^targets\[0\]\.retry\.schedule\[0\]: .*not a duration/),
    ]));
  });

  it('says an empty secret probably means an unset variable', () => {
    expect(issuesOf(`zego: { apps: [{ appId: "1", callbackSecrets: ["\${NOPE}"] }] }`)).toEqual([
      expect.stringMatching(/^zego\.apps\[0\]\.callbackSecrets\[0\]: .*environment variable/),
    ]);
  });

  it('rejects duplicate target names and app ids', () => {
    const issues = issuesOf(`
zego: { apps: [{ appId: "1", callbackSecrets: [a] }, { appId: 1, callbackSecrets: [b] }] }
targets:
  - { name: a, url: "http://127.0.0.1:1/", events: ["*"] }
  - { name: a, url: "http://127.0.0.1:1/", events: ["*"] }
`);
    expect(issues).toEqual(expect.arrayContaining([expect.stringMatching(/^targets\[1\]\.name/), expect.stringMatching(/^zego\.apps\[1\]\.appId/)]));
  });

  it('reserves the target name of the unrouted queue', () => {
    expect(issuesOf(`${minimal}
targets:
  - { name: unrouted, url: "http://127.0.0.1:1/", events: ["*"] }
`)).toEqual([expect.stringMatching(/^targets\[0\]\.name: "unrouted" is reserved/)]);
  });

  it('reports YAML syntax errors and an unreadable file', () => {
    expect(issuesOf('server: [')[0]).toMatch(/^YAML/);
    expect(() => loadConfig({ path: '/nonexistent/relay.yaml', env: {} })).toThrow(/ENOENT/);
    expect(DEVELOPMENT_SECRET).toBe('zego-relay-dev-secret');
  });
});

describe('first attempts by the router', () => {
  const targets = (defaults: string) => `${minimal}${defaults}
targets:
  - { name: plain, url: "https://a.example.com/", events: ["*"] }
  - { name: jobs, url: "https://b.example.com/", events: ["*"], directFirstAttempt: false }
  - { name: direct, url: "https://c.example.com/", events: ["*"], directFirstAttempt: true }
`;

  it('are on by default; a target turns them off, or on where defaults turned them off', () => {
    expect(parseConfig(targets(''), { env: {} }).targets.map((target) => target.directFirstAttempt)).toEqual([true, false, true]);
    expect(parseConfig(targets('defaults:\n  directFirstAttempt: false\n'), { env: {} }).targets.map((target) => target.directFirstAttempt)).toEqual([false, false, true]);
  });

  it('hold a batch at most intake.firstAttemptDeadline: 1 s unless set, 10 ms to 60 s', () => {
    expect(parseConfig(targets(''), { env: {} }).intake.firstAttemptDeadline).toBe(1_000);
    expect(parseConfig(`${targets('')}intake:\n  firstAttemptDeadline: 300ms\n`, { env: {} }).intake.firstAttemptDeadline).toBe(300);
    expect(() => parseConfig(`${targets('')}intake:\n  firstAttemptDeadline: 5ms\n`, { env: {} })).toThrow(/intake\.firstAttemptDeadline/);
    expect(() => parseConfig(`${targets('')}intake:\n  firstAttemptDeadline: 2m\n`, { env: {} })).toThrow(/intake\.firstAttemptDeadline/);
  });
});
