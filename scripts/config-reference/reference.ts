/**
 * The configuration reference as data: every key of the schema (schema-keys.ts) with its TSDoc
 * (tsdoc.ts), its type in words and its default, and the problems that would make the page wrong:
 * a key without TSDoc, a `@defaultValue` the schema contradicts, a comment naming a key that does
 * not exist. docs/CONFIGURATION.md (page.ts) and its tests are built from this.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import type { z } from 'zod';
import { configSchema } from '../../src/config/schema.js';
import { formatValue, schemaDefaults, schemaKeys, typeInWords, type ConfigKey, type SchemaDefault } from './schema-keys.js';
import { readKeyDocs, type KeyDoc } from './tsdoc.js';

/** Which schema to document: the configuration's unless a test brings its own. */
export interface ReferenceSource {
  /** The repository: paths in messages are relative to it. */
  readonly root: string;
  /** The file exporting the schema, relative to `root`: the TypeScript compiler reads its comments. */
  readonly file: string;
  readonly exportName: string;
  /** The same schema, loaded: its keys, types and defaults. */
  readonly schema: z.ZodType;
}

const CONFIG_SOURCE = { file: 'src/config/schema.ts', exportName: 'configSchema', schema: configSchema };

export interface ReferenceEntry {
  readonly key: ConfigKey;
  readonly doc: KeyDoc;
  /** `duration`, `integer, 1 to 1000`, `` `false` or object ``, ... */
  readonly type: string;
  /** As the page shows it: `` `15s` ``, `required`, `unset`, or the prose of a `@defaultValue`. */
  readonly defaultText: string;
}

export interface Reference {
  readonly entries: readonly ReferenceEntry[];
  /** Keys without TSDoc, and comments that name a key the schema does not have. */
  readonly docProblems: readonly string[];
  /** `@defaultValue` tags that disagree with the schema, and defaults without a tag. */
  readonly defaultProblems: readonly string[];
}

/** The reference of the configuration schema as it is now (or of `source`'s). */
export function buildReference(source: ReferenceSource = { root: repositoryRoot(), ...CONFIG_SOURCE }): Reference {
  const keys = schemaKeys(source.schema);
  const docs = readKeyDocs(source.root, join(source.root, source.file), source.exportName, keys);
  const defaults = schemaDefaults(keys);
  const paths = new Set(keys.map((key) => key.path));
  const sections = new Set(keys.filter((key) => key.parent === undefined && !key.path.includes('[')).map((key) => key.path));
  const entries: ReferenceEntry[] = [];
  const docProblems: string[] = [];
  const defaultProblems: string[] = [];
  for (const key of keys) {
    const doc = docs.get(key.path)!;
    if (doc.text === '') docProblems.push(`${key.path} (${doc.location}): no TSDoc; write what it does in a /** ... */ comment above it`);
    for (const named of namedKeys(`${doc.text} ${doc.defaultValue ?? ''}`, sections)) {
      if (!paths.has(named)) docProblems.push(`${key.path} (${doc.location}): its comment names \`${named}\`, which is not a key`);
    }
    const verdict = judgeDefault(key, defaults.get(key.path)!, doc.defaultValue);
    if (verdict.problem) defaultProblems.push(`${key.path} (${doc.location}): ${verdict.problem}`);
    entries.push({ key, doc, type: typeInWords(key.schema), defaultText: verdict.text });
  }
  return { entries, docProblems, defaultProblems };
}

/** Key paths in code spans of a comment: dotted, from a top-level key (`defaults.breaker`, `targets[].url`). */
function namedKeys(text: string, sections: ReadonlySet<string>): string[] {
  return [...text.matchAll(/`([a-z][A-Za-z]*)((?:\[\])?(?:\.[A-Za-z]+(?:\[\])?)+)`/g)]
    .filter((match) => sections.has(match[1]!))
    .map((match) => `${match[1]}${match[2]}`);
}

/**
 * What the page says the default is, and what is wrong with the key's `@defaultValue`: the tag is
 * read as YAML and parsed by the key's own schema, so `5m` agrees with 300000. A tag that is not a
 * value of the key (`` `defaults.timeout` ``, "all apps") is prose, allowed only where the schema
 * itself applies no default.
 */
function judgeDefault(key: ConfigKey, own: SchemaDefault, tag: string | undefined): { text: string; problem?: string } {
  if (tag === undefined) {
    if (own.required) return { text: 'required' };
    if (own.value === undefined) return { text: 'unset' };
    if (key.hasChildren && isPlainObject(own.value)) return { text: 'the defaults of its keys' };
    const shown = formatValue(key.schema, own.value);
    return { text: code(shown), problem: `the schema's default is ${shown}: add @defaultValue ${shown} to its TSDoc` };
  }
  const tagged = valueOfTag(key.schema, tag);
  if (own.required) {
    return tagged === undefined ? { text: tag } : { text: code(tag), problem: `@defaultValue ${tag}, but the key is required` };
  }
  if (own.value === undefined) {
    return tagged === undefined ? { text: tag } : { text: code(tag), problem: `@defaultValue ${tag}, but the schema applies no default (the key is unset when left out)` };
  }
  if (tagged !== undefined && isDeepStrictEqual(tagged.value, own.value)) return { text: code(tag) };
  return { text: code(tag), problem: `@defaultValue ${tag} disagrees with the schema's default, ${formatValue(key.schema, own.value)}` };
}

/** The tag as the key's schema reads it, or undefined when the tag is not a value of the key. */
function valueOfTag(schema: z.ZodType, tag: string): { value: unknown } | undefined {
  let written: unknown;
  try {
    written = parse(tag);
  } catch {
    return undefined;
  }
  const result = schema.safeParse(written);
  return result.success && result.data !== undefined ? { value: result.data } : undefined;
}

const isPlainObject = (value: unknown) => value !== null && typeof value === 'object' && !Array.isArray(value);
const code = (text: string) => `\`${text}\``;

/** The directory of package.json above this file (scripts/ here, dist/scripts/ once compiled). */
export function repositoryRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let directory = from;
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`no package.json above ${from}`);
    directory = parent;
  }
  return directory;
}
