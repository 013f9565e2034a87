/**
 * docs/CONFIGURATION.md is generated from the configuration schema and its TSDoc
 * (scripts/config-reference/, `npm run docs:config`), so it cannot go stale: these tests fail when
 * the page differs from what the generator writes now, when a key has no TSDoc, and when a
 * `@defaultValue` differs from the default the schema applies. A fixture schema with each mistake
 * in it shows that the checks find them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PAGE_PATH, renderPage } from '../../scripts/config-reference/page.js';
import { buildReference } from '../../scripts/config-reference/reference.js';
import { formatSize, schemaKeys, typeInWords } from '../../scripts/config-reference/schema-keys.js';
import { configSchema } from '../../src/config/schema.js';
import { fixtureSchema } from '../fixtures/config-reference-schema.js';
import { keyPathsIn } from '../helpers/yaml-key-paths.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const reference = buildReference();

describe('docs/CONFIGURATION.md', () => {
  it('is what `npm run docs:config` writes from the schema today', () => {
    const page = readFileSync(join(ROOT, PAGE_PATH), 'utf8');
    expect(page, `${PAGE_PATH} is out of date: run \`npm run docs:config\``).toBe(renderPage(reference.entries));
  });

  it('has TSDoc for every key of the schema, and every key a comment names exists', () => {
    expect(reference.docProblems).toEqual([]);
  });

  it('shows the defaults the schema applies: every @defaultValue agrees with the parsed default, and every default has one', () => {
    expect(reference.defaultProblems).toEqual([]);
  });

  it('lists the keys an operator writes, nested ones, list items and `false`-or-object alike', () => {
    const paths = reference.entries.map((entry) => entry.key.path);
    expect(paths).toEqual(expect.arrayContaining(['server.port', 'zego.apps[].callbackSecrets', 'targets[].retry.schedule', 'defaults.breaker', 'defaults.breaker.openAfter', 'redis.sentinel.password']));
    const row = (path: string) => reference.entries.find((entry) => entry.key.path === path);
    expect(row('server.bodyLimit')).toMatchObject({ type: 'size', defaultText: '`256kb`' });
    expect(row('defaults.breaker')).toMatchObject({ type: '`false` or object' });
    expect(row('zego.apps[].appId')).toMatchObject({ defaultText: 'required' });
  });
});

describe('config/relay.yaml, the commented example', () => {
  it('names every key of the schema, commented out or not', () => {
    const named = keyPathsIn(readFileSync(join(ROOT, 'config/relay.yaml'), 'utf8'));
    const leaves = schemaKeys(configSchema).filter((key) => !key.hasChildren).map((key) => key.path);
    expect(leaves.filter((path) => !named.has(path)), 'config/relay.yaml does not name these keys: add each (commented out if need be)').toEqual([]);
  });

  it('reads key paths from indentation, commented lines, list items and flow mappings', () => {
    const text = ['a:', '  b: 1', '  # c:            # commented out', '  #   d: 2', 'list:', '  - name: x', '    # flow: { max: 1, inner: [{ deep: 2 }] }', '# prose: not a key of a'].join('\n');
    expect([...keyPathsIn(text)].sort()).toEqual(['a', 'a.b', 'a.c', 'a.c.d', 'list', 'list[].flow', 'list[].flow.inner', 'list[].flow.inner[].deep', 'list[].flow.max', 'list[].name', 'prose']);
  });
});

describe('the generator on a schema with mistakes', () => {
  const fixture = buildReference({ root: ROOT, file: 'test/fixtures/config-reference-schema.ts', exportName: 'fixtureSchema', schema: fixtureSchema });
  const row = (path: string) => fixture.entries.find((entry) => entry.key.path === path);

  it('finds a key without TSDoc and a comment naming a key that does not exist', () => {
    expect(fixture.docProblems).toEqual([
      expect.stringMatching(/^server\.undocumented \(test\/fixtures\/config-reference-schema\.ts:\d+\): no TSDoc/),
      expect.stringMatching(/^server\.link .*names `server\.gone`, which is not a key$/),
    ]);
  });

  it('finds a stale @defaultValue, a default without one, and a tag on a key the schema leaves unset', () => {
    expect(fixture.defaultProblems).toEqual([
      expect.stringMatching(/^server\.port .*@defaultValue 8080 disagrees with the schema's default, 9090$/),
      expect.stringMatching(/^server\.undocumented .*the schema's default is x: add @defaultValue x/),
      expect.stringMatching(/^server\.limit .*@defaultValue 10, but the schema applies no default/),
      expect.stringMatching(/^items .*the schema's default is \[\]: add @defaultValue \[\]/),
    ]);
  });

  it('takes a default from the parent object and reads tags in the operator units', () => {
    expect(row('retry.schedule')).toMatchObject({ type: 'list of durations (at most 5)', defaultText: '`[1s, 2s]`' });
    expect(row('server.timeout')).toMatchObject({ type: 'duration', defaultText: '`5m`' });
    expect(row('server.override')).toMatchObject({ defaultText: '`server.timeout`' });
    expect(row('breaker.count')).toMatchObject({ type: 'integer ≥ 1', defaultText: '`3`' });
    expect(row('items[].name')).toMatchObject({ type: 'string matching `[a-z]+`', defaultText: 'required' });
    expect(row('server.link')).toMatchObject({ type: 'boolean', defaultText: 'unset' });
  });
});

describe('types in words', () => {
  it.each([
    ['an integer range', z.number().int().min(1).max(1000), 'integer, 1 to 1000'],
    ['a fraction', z.number().min(0).max(1), 'number, 0 to 1'],
    ['an enum', z.enum(['production', 'development']), '`production` or `development`'],
    ['a boolean with a default', z.boolean().default(true), 'boolean'],
    ['a list of strings', z.array(z.string()).min(1), 'list of strings (at least 1)'],
    ['`false` or an object', z.union([z.literal(false), z.strictObject({})]), '`false` or object'],
    ['a string or a list of them', z.union([z.string(), z.array(z.string())]), 'string or list of strings'],
    ['a map', z.record(z.string(), z.string()), 'map of name to string'],
    ['a URL', z.url(), 'URL'],
    ['a non-empty string', z.string().min(1), 'non-empty string'],
  ])('%s', (_name, schema, words) => expect(typeInWords(schema)).toBe(words));

  it('writes sizes in the largest unit that divides them', () => {
    expect([formatSize(262_144), formatSize(1_048_576), formatSize(1000)]).toEqual(['256kb', '1mb', '1000b']);
  });
});
