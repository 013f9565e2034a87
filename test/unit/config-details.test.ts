/**
 * The details of reading a configuration that an operator meets at the edges: units, values that
 * arrive as strings after `${VAR}` substitution, the environment overrides, error paths, target
 * defaults and a frozen result. Pure: no file but the ones named, no network.
 */
import { parseDocument, type YAMLError } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH, loadConfig, parseConfig, resolveConfigPath } from '../../src/config/load.js';
import { substituteString, substituteTree } from '../../src/config/env-substitution.js';
import { formatDuration, parseDuration, parseSize } from '../../src/config/units.js';
import { describeYamlError, findSecrets, maskLine } from '../../src/config/yaml-errors.js';
import { issuesOf } from '../helpers/config-issues.js';

const APPS = 'zego: { apps: [{ appId: "111111", callbackSecrets: [s3cret] }] }\n';
const TARGET = 'targets: [{ name: billing, url: "http://127.0.0.1:1/", events: ["*"] }]\n';


describe('units at their edges', () => {
  it.each([
    [0, 0], [1.6, 2], [' 7 ', 7], [' 5s ', 5_000], ['1.25s', 1_250], ['2 m', 120_000], ['5MS', 5], ['1.5h', 5_400_000],
  ] as const)('reads the duration %j as %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, 'x5', 'x5s', '5sx', '5 s s', '1.s', '.5s', '5x'])('refuses the duration %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    [0, 0], [' 2048 ', 2_048], ['1.5kb', 1_536], ['1.25kb', 1_280], ['2 KB', 2_048], ['1gb', 1_073_741_824], ['1.5b', 1],
  ] as const)('reads the size %j as %d bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each([-1, 1.5, Number.NaN, 'x1kb', '1kbx', '1.kb', 'kb', '1tb', '1.5'])('refuses the size %j', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });

  it.each([[999, '999ms'], [1_000, '1s'], [60_000, '1m'], [3_661_000, '1h1m1s'], [1_499, '1s']] as const)('writes %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('values that arrive as strings', () => {
  it('reads integers, booleans and app ids from ${VAR} substitution', () => {
    const config = parseConfig(
      'server: { port: "${PORT_TEXT}" }\nadmin: { readOnly: "${RO}" }\nzego: { apps: [{ appId: 111111, callbackSecrets: [s] }], allowUnknownEvents: "${UNKNOWN}" }\n',
      { env: { PORT_TEXT: ' 8081 ', RO: 'true', UNKNOWN: 'false' } },
    );
    expect(config.server.port).toBe(8_081);
    expect(config.admin.readOnly).toBe(true);
    expect(config.zego.allowUnknownEvents).toBe(false);
    expect(config.zego.apps[0]!.appId).toBe('111111');
  });

  it('refuses what only looks like one', () => {
    expect(issuesOf(`${APPS}server: { port: "80a" }\n`)).toEqual([expect.stringMatching(/^server\.port: /)]);
    expect(issuesOf(`${APPS}server: { port: "a80" }\n`)).toEqual([expect.stringMatching(/^server\.port: /)]);
    expect(issuesOf(`${APPS}admin: { readOnly: "yes" }\n`)).toEqual([expect.stringMatching(/^admin\.readOnly: /)]);
    expect(issuesOf('zego: { apps: [{ appId: "12a", callbackSecrets: [s] }] }\n')).toEqual(['zego.apps[0].appId: must be a ZEGO app id (digits)']);
    expect(issuesOf('zego: { apps: [{ appId: "a12", callbackSecrets: [s] }] }\n')).toEqual(['zego.apps[0].appId: must be a ZEGO app id (digits)']);
  });

  it('says which size or duration it cannot read, and refuses a size of 0', () => {
    expect(issuesOf(`${APPS}server: { bodyLimit: "lots" }\n`)).toEqual(['server.bodyLimit: "lots" is not a size (use bytes or 512b, 256kb, 1mb, 1gb)']);
    expect(issuesOf(`${APPS}server: { bodyLimit: 0 }\n`)).toEqual(['server.bodyLimit: "0" is not a size (use bytes or 512b, 256kb, 1mb, 1gb)']);
    expect(issuesOf(`${APPS}intake: { claimAfter: "soon" }\n`)).toEqual(['intake.claimAfter: "soon" is not a duration (use milliseconds or 500ms, 5s, 5m, 2h, 3d)']);
  });

  it('takes one signing secret or a list, dropping empty ones (an unset ${VAR})', () => {
    const config = parseConfig(
      `${APPS}targets:\n  - { name: a, url: "http://127.0.0.1:1/", events: ["*"], signingSecret: "whsec_YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh" }\n  - { name: b, url: "http://127.0.0.1:1/", events: ["*"], signingSecret: ["", "whsec_YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJi"] }\n  - { name: c, url: "http://127.0.0.1:1/", events: ["*"] }\n`,
      { env: {} },
    );
    expect(config.targets.map((target) => target.signingSecrets)).toEqual([['whsec_YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh'], ['whsec_YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJi'], []]);
  });
});

describe('substituting ${VAR}', () => {
  it('uses the value, else the default, else nothing; an empty value counts as unset', () => {
    expect(substituteString('${A}-${B:-b}-${C}-${D:-d}', { A: 'a', B: '', D: 'x' })).toBe('a-b--x');
  });

  it('replaces in every string value of the tree, never in keys, and leaves other values alone', () => {
    expect(substituteTree({ '${K}': ['${V}', 1, null, true, { deep: '${V}' }] }, { K: 'k', V: 'v' })).toEqual({ '${K}': ['v', 1, null, true, { deep: 'v' }] });
  });
});

describe('environment overrides and sources', () => {
  it('sets redis.url from REDIS_URL and server.port from PORT, also when the file has no such section', () => {
    const config = parseConfig(`${APPS}redis: null\n`, { env: { REDIS_URL: 'redis://10.0.0.1:6380', PORT: '8082' } });
    expect(config.redis.url).toBe('redis://10.0.0.1:6380');
    expect(config.server.port).toBe(8_082);
    const kept = parseConfig(`${APPS}redis: { url: "redis://h:1" }\nserver: { port: 81 }\n`, { env: { REDIS_URL: '', PORT: '' } });
    expect([kept.redis.url, kept.server.port]).toEqual(['redis://h:1', 81]);
  });

  it('refuses a file that is not a mapping, naming the root', () => {
    expect(issuesOf('- a\n- b\n', { REDIS_URL: 'redis://h:1' })).toEqual([expect.stringMatching(/^\(root\): /)]);
  });

  it('names unknown keys by their path', () => {
    expect(issuesOf(`${APPS}colour: blue\nserver: { hots: x }\n`).sort()).toEqual(['colour: unknown key', 'server.hots: unknown key']);
  });

  it('says where the configuration came from', () => {
    expect(parseConfig(APPS, { env: {} }).source).toBe('<inline>');
    expect(parseConfig(APPS, { env: {}, source: 'here.yaml' }).source).toBe('here.yaml');
    expect(resolveConfigPath('flag.yaml', { RELAY_CONFIG: 'env.yaml' })).toBe('flag.yaml');
    expect(resolveConfigPath(undefined, { RELAY_CONFIG: 'env.yaml' })).toBe('env.yaml');
    expect(resolveConfigPath(undefined, {})).toBe(DEFAULT_CONFIG_PATH);
    expect(DEFAULT_CONFIG_PATH).toBe('config/relay.yaml');
  });

  it('names the file it cannot read and why', () => {
    expect(() => loadConfig({ path: '/nonexistent/relay.yaml', env: {} })).toThrow(/^\/nonexistent\/relay\.yaml: invalid configuration:\n {2}- cannot read the file \(ENOENT\)$/);
  });
});

describe('targets after defaults', () => {
  it('gets the default rate limit unless it has its own, no appIds key unless it filters, and is frozen all the way down', () => {
    const config = parseConfig(
      `${APPS}defaults: { rateLimit: { max: 10, duration: 1s } }\ntargets:\n  - { name: a, url: "http://127.0.0.1:1/", events: ["*"] }\n  - { name: b, url: "http://127.0.0.1:1/", events: ["*"], rateLimit: { max: 2, duration: 1m }, appIds: ["111111"], headers: { X-A: b } }\n`,
      { env: {} },
    );
    const [a, b] = config.targets;
    expect(a!.rateLimit).toEqual({ max: 10, duration: 1_000 });
    expect('appIds' in a!).toBe(false);
    expect(b!.rateLimit).toEqual({ max: 2, duration: 60_000 });
    expect(b!.appIds).toEqual(['111111']);
    for (const value of [config, config.targets, b, b!.headers, b!.appIds, b!.retry, b!.retry.schedule, config.server, config.zego.apps[0]]) {
      expect(Object.isFrozen(value)).toBe(true);
    }
    const plain = parseConfig(`${APPS}${TARGET}`, { env: {} });
    expect('rateLimit' in plain.targets[0]!).toBe(false);
  });
});

describe('what each key accepts', () => {
  /** A config with one target; `fields` replace or add to its name, url and events. */
  const target = (fields: Record<string, string>) => {
    const all = { name: 'billing', url: '"http://127.0.0.1:1/"', events: '["*"]', ...fields };
    return `${APPS}targets: [{ ${Object.entries(all).map(([key, value]) => `${key}: ${value}`).join(', ')} }]\n`;
  };

  it.each([
    ['a target name with other characters', target({ name: '"billing!"' }), 'targets[0].name: must match [a-z0-9-]+'],
    ['a target name starting with other characters', target({ name: '"!billing"' }), 'targets[0].name: must match [a-z0-9-]+'],
    ['a target URL of another protocol', target({ url: '"xhttp://127.0.0.1/"' }), 'targets[0].url: must be an http(s) URL'],
    ['a target URL of a longer protocol', target({ url: '"httpsx://127.0.0.1/"' }), 'targets[0].url: must be an http(s) URL'],
    ['no events', target({ events: '[]' }), 'targets[0].events: must name at least one event (or *)'],
    ['an event pattern with a star inside', target({ events: '["mix_*x"]' }), 'targets[0].events[0]: must be an event name, a prefix wildcard like mix_*, or *'],
    ['an event pattern with other characters first', target({ events: '["!mix"]' }), 'targets[0].events[0]: must be an event name, a prefix wildcard like mix_*, or *'],
    ['an empty appIds list', target({ appIds: '[]' }), expect.stringMatching(/^targets\[0\]\.appIds: /)],
    ['a signing secret with text before whsec_', target({ signingSecret: '"x whsec_YQ=="' }), 'targets[0].signingSecret[0]: must be whsec_ followed by base64'],
    ['a signing secret with text after', target({ signingSecret: '"whsec_YQ== x"' }), 'targets[0].signingSecret[0]: must be whsec_ followed by base64'],
    ['a signing secret of no key at all (whsec_A decodes to nothing)', target({ signingSecret: '"whsec_A"' }), 'targets[0].signingSecret[0]: must decode to at least 24 bytes (whsec_ and the base64 of 24+ random bytes, e.g. whsec_$(openssl rand -base64 32))'],
    ['a signing secret of 23 bytes', target({ signingSecret: `"whsec_${Buffer.alloc(23, 7).toString('base64')}"` }), expect.stringMatching(/^targets\[0\]\.signingSecret\[0\]: must decode to at least 24 bytes/)],
    ['a short secret among several', target({ signingSecret: `["whsec_${Buffer.alloc(24, 7).toString('base64')}", "whsec_c2hvcnQ="]` }), expect.stringMatching(/^targets\[0\]\.signingSecret\[1\]: must decode to at least 24 bytes/)],
    ['a callback path without /', `${APPS}server: { callbackPath: "zego" }\n`, 'server.callbackPath: must be a path starting with /'],
    ['a callback path not starting with /', `${APPS}server: { callbackPath: "x/zego" }\n`, 'server.callbackPath: must be a path starting with /'],
    ['a callback path with a space', `${APPS}server: { callbackPath: "/zego callback" }\n`, 'server.callbackPath: must be a path starting with /'],
    ['a Redis URL of another scheme', `${APPS}redis: { url: "xredis://h:1" }\n`, 'redis.url: must be a redis:// or rediss:// URL'],
    ['a prefix with other characters', `${APPS}redis: { prefix: "zr!" }\n`, 'redis.prefix: must match [A-Za-z0-9_.-]+'],
    ['a prefix starting with other characters', `${APPS}redis: { prefix: "!zr" }\n`, 'redis.prefix: must match [A-Za-z0-9_.-]+'],
    ['an app without secrets', 'zego: { apps: [{ appId: "1", callbackSecrets: [] }] }\n', 'zego.apps[0].callbackSecrets: needs at least one secret'],
    ['no apps', 'zego: { apps: [] }\n', 'zego.apps: configure at least one app'],
    ['two unknown keys in one section', `${APPS}server: { a: 1, b: 2 }\n`, 'server.a: unknown key; server.b: unknown key'],
  ])('refuses %s', (_name, text, issue) => {
    expect(issuesOf(text)).toEqual([issue]);
  });

  it('refuses a file that is one word, also with REDIS_URL set', () => {
    expect(issuesOf('hello\n', { REDIS_URL: 'redis://h:1' })).toEqual([expect.stringMatching(/^\(root\): /)]);
  });

  it('accepts several app ids, an app id with spaces around it, and keeps the other Redis keys when REDIS_URL is set', () => {
    const config = parseConfig(target({ appIds: '["111111", " 222 "]' }).replace('appId: "111111"', 'appId: " 111111 "'), { env: { REDIS_URL: 'redis://h:2' } });
    expect(config.targets[0]!.appIds).toEqual(['111111', '222']);
    expect(config.zego.apps[0]!.appId).toBe('111111');
    const kept = parseConfig(`${APPS}redis: { prefix: mine }\n`, { env: { REDIS_URL: 'redis://h:2' } });
    expect(kept.redis).toMatchObject({ url: 'redis://h:2', prefix: 'mine', topology: { kind: 'single', node: { host: 'h', port: 2 } } });
  });

  it('refuses only the framing headers themselves, not names that contain them', () => {
    const config = parseConfig(target({ headers: '{ X-Forwarded-Host: a, Hostname: b, Upgrade-Insecure: c }' }), { env: {} });
    expect(Object.keys(config.targets[0]!.headers)).toEqual(['X-Forwarded-Host', 'Hostname', 'Upgrade-Insecure']);
  });

  it('has the documented defaults', () => {
    const config = parseConfig(APPS, { env: {} });
    expect(config.admin).toMatchObject({ host: '127.0.0.1', port: 9_090, username: 'admin', readOnly: false });
    expect(config.redis).toMatchObject({ url: 'redis://127.0.0.1:6379', prefix: 'zego-relay', waitReplicas: 0, topology: { kind: 'single', node: { host: '127.0.0.1', port: 6379 } } });
    expect(config.zego).toMatchObject({ allowUnknownEvents: true, timestampToleranceSeconds: 600, dedupeWindow: 86_400_000 });
    expect(config.delivery).toMatchObject({ maxResponseBytes: 65_536 });
    expect(config.retention).toMatchObject({ deadLetterAge: 30 * 86_400_000 });
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 8_080, callbackPath: '/zego/callback', bodyLimit: 262_144 });
  });
});

describe('a YAML error as printed', () => {
  it('masks the value of every secret key, of everything under one, and of every header, line by line', () => {
    const pairs: [string, string][] = [
      ['zego:', 'zego:'],
      ['  apps:', '  apps:'],
      ['    - appId: \'1\'', '    - appId: \'1\''],
      ['      callbackSecrets:', '      callbackSecrets:'],
      ['        - Literal-1', '        - ***'],
      ['        -   [a, \'b c\']', '        -   [***, \'*** ***\']'],
      ['      callbackSecrets: [x-1, \'y 2\']', '      callbackSecrets: [***, \'*** ***\']'],
      ['admin:', 'admin:'],
      ['  password: \'p w\' # note', '  password: \'*** ***\' *** ***'],
      ["  'token' : t1", "  'token' : ***"],
      ['targets:', 'targets:'],
      ['  - name: a', '  - name: a'],
      ['    headers:', '    headers:'],
      ['      X-Api: k1 k2', '      X-Api: *** ***'],
      ['      \'Quoted-Key\': {v: 1}', '      \'Quoted-Key\': {*** ***}'],
      ['    signingSecret:', '    signingSecret:'],
      ['    - whsec_1', '    - ***'],
      ['    url: http://u:secret@h:1/x', '    url: http://[redacted]@h:1/x'],
      ['    events: [\'*\']', '    events: [\'*\']'],
      ['-x: y', '-x: y'],
      ['secret:', 'secret:'],
      ['plain: value', 'plain: value'],
    ];
    const text = pairs.map(([line]) => line);
    expect(text.map((_line, index) => maskLine(text, index))).toEqual(pairs.map(([, masked]) => masked));
  });

  it('masks what follows a secret key inside a line when no parsed document says where its value is', () => {
    const text = 'admin: { username: ops, password: "p w", port: 9 }\ntargets: [{ name: a, headers: { X-Api: k1 } }]\n';
    const error = { message: 'Bad at line 2, column 3', linePos: [{ line: 2, col: 3 }] } as unknown as YAMLError;
    expect(describeYamlError(error, text)).toBe([
      'YAML: Bad (line 2, column 3):',
      '         1 | admin: { username: ops, password: "*** ***", *** *** }',
      '         2 | targets: [{ name: a, headers: { *** *** } }]',
    ].join('\n'));
  });

  it('masks by what the parsed document says: values of secret keys in any style, header names kept', () => {
    const text = 'admin: { username: ops, password: "p w", port: 9 }\ntargets: [{ name: a, headers: { X-Api: k1 }, signingSecret: [whsec_1] }]\nx: : y\n';
    const document = parseDocument(text);
    const error = document.errors[0]!;
    expect(describeYamlError(error, text, findSecrets(document))).toBe([
      'YAML: Nested mappings are not allowed in compact mappings (line 3, column 4):',
      '         1 | admin: { username: ops, password: "*** ***", port: 9 }',
      '         2 | targets: [{ name: a, headers: { X-Api: *** }, signingSecret: [***] }]',
      '         3 | x: : y',
    ].join('\n'));
  });

  it('names the line and column and shows up to two lines before it, without a trailing empty line', () => {
    const text = 'a: 1\nb: 2\nc: 3\nd: [\n';
    const error = (line: number, col: number) => ({ message: 'Unexpected end at line 9, column 9:\n\nd: [', linePos: [{ line, col }] }) as unknown as YAMLError;
    expect(describeYamlError(error(4, 4), text)).toBe('YAML: Unexpected end (line 4, column 4):\n         2 | b: 2\n         3 | c: 3\n         4 | d: [');
    // Past the end (the empty line after the last newline): the lines before it.
    expect(describeYamlError(error(5, 1), text)).toBe('YAML: Unexpected end (line 5, column 1):\n         3 | c: 3\n         4 | d: [');
    expect(describeYamlError(error(1, 2), text)).toBe('YAML: Unexpected end (line 1, column 2):\n         1 | a: 1');
    expect(describeYamlError(error(13, 1), 'x\n'.repeat(11))).toBe('YAML: Unexpected end (line 13, column 1):\n        10 | x\n        11 | x');
    expect(describeYamlError({ message: 'Bad at line 2, column 3' } as unknown as YAMLError, text)).toBe('YAML: Bad');
    expect(describeYamlError({ message: 'Worse  at line 12, column 34:\n\nx' } as unknown as YAMLError, text)).toBe('YAML: Worse');
  });
});
