/**
 * Every key of the configuration, found by walking the zod schema itself through its public `def`
 * tree: the path an operator writes (`server.port`, `zego.apps[].callbackSecrets`), the type in
 * words and the default the schema applies. A key added to the schema appears here with no code of
 * its own; only a kind of zod schema never seen before needs a line in `words`.
 */
import type { z } from 'zod';
import { formatDuration } from '../../src/config/units.js';

export interface ConfigKey {
  /** As an operator writes it: `server.port`, `targets[].retry.schedule`. */
  readonly path: string;
  /** The schema of the key's value, wrappers (default, optional) included. */
  readonly schema: z.ZodType;
  /**
   * The property names that lead from the root schema to this key in zod's `def` tree
   * (`def`, `in`, `def`, `shape`, `server`, ...): the TSDoc reader follows the same names through
   * the schema's TypeScript type, where the last one is the property the comment sits on.
   */
  readonly route: readonly string[];
  /**
   * The key whose default holds this one's (`defaults.retry` for `defaults.retry.jitter`); none at
   * the top and inside a list item.
   */
  readonly parent: string | undefined;
  /** Its name in the parent object. */
  readonly name: string;
  /** It has keys of its own (an object, or `false` or an object). */
  hasChildren: boolean;
}

/** The zod `def` of a schema: typed loosely, since the walk meets every kind. */
interface Def {
  type: string;
  [field: string]: unknown;
}
const defOf = (schema: z.ZodType) => schema.def as unknown as Def;

/** Wrappers that change whether a value must be given, not its type. */
const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'nonoptional', 'readonly', 'catch']);

/** The keys under `root`, parents before their children, in the schema's order. */
export function schemaKeys(root: z.ZodType): ConfigKey[] {
  const keys: ConfigKey[] = [];
  collect(root, '', [], keys);
  return keys;
}

function collect(schema: z.ZodType, prefix: string, route: readonly string[], keys: ConfigKey[]): void {
  const def = defOf(schema);
  const into = (child: unknown, steps: string[], path = prefix) => collect(child as z.ZodType, path, [...route, 'def', ...steps], keys);
  if (WRAPPERS.has(def.type)) return into(def.innerType, ['innerType']);
  if (def.type === 'pipe') return isTransform(def.in) ? into(def.out, ['out']) : into(def.in, ['in']);
  if (def.type === 'array') return into(def.element, ['element'], `${prefix}[]`);
  if (def.type === 'union') return (def.options as z.ZodType[]).forEach((option, index) => into(option, ['options', String(index)]));
  if (def.type !== 'object') return;
  for (const [name, child] of Object.entries(def.shape as Record<string, z.ZodType>)) {
    const path = prefix ? `${prefix}.${name}` : name;
    // Two object branches of a union may share a key: the first one describes it.
    if (keys.some((key) => key.path === path)) continue;
    const parent = prefix === '' || prefix.endsWith('[]') ? undefined : prefix;
    const key: ConfigKey = { path, schema: child, route: [...route, 'def', 'shape', name], parent, name, hasChildren: false };
    keys.push(key);
    const before = keys.length;
    collect(child, path, key.route, keys);
    key.hasChildren = keys.length > before;
  }
}

const isTransform = (schema: unknown) => defOf(schema as z.ZodType).type === 'transform';

/** The side of a pipe that says what an operator writes: its input, unless that is a transform (z.preprocess). */
const writtenSide = (def: Def) => (isTransform(def.in) ? def.out : def.in) as z.ZodType;

/** The key's schema without its wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  const def = defOf(schema);
  return WRAPPERS.has(def.type) ? unwrap(def.innerType as z.ZodType) : schema;
}

/**
 * Durations and sizes are strings turned into numbers by a transform, which no `def` describes:
 * they are recognised by what they do with a sample.
 */
const converts = (schema: z.ZodType, sample: string, expected: number) => {
  const result = schema.safeParse(sample);
  return result.success && result.data === expected;
};
const isDuration = (schema: z.ZodType) => converts(unwrap(schema), '90s', 90_000);
const isSize = (schema: z.ZodType) => !isDuration(schema) && converts(unwrap(schema), '2kb', 2048);

/** A type in words, alone (`duration`) and in a list (`durations`). */
interface Words {
  one: string;
  many: string;
}

/** The type of a key in words: `duration`, `integer, 1 to 1000`, `` `false` or object ``, ... */
export function typeInWords(schema: z.ZodType): string {
  return words(schema).one;
}

function words(schema: z.ZodType): Words {
  const core = unwrap(schema);
  if (isDuration(core)) return { one: 'duration', many: 'durations' };
  if (isSize(core)) return { one: 'size', many: 'sizes' };
  const def = defOf(core);
  switch (def.type) {
    case 'pipe':
      return words(writtenSide(def));
    case 'string':
      return stringWords(core as z.ZodString);
    case 'number':
      return numberWords(core as z.ZodNumber);
    case 'boolean':
      return { one: 'boolean', many: 'booleans' };
    case 'enum':
      return valueWords(Object.values(def.entries as Record<string, string | number>));
    case 'literal':
      return valueWords(def.values as unknown[]);
    case 'union': {
      const options = (def.options as z.ZodType[]).map(words);
      const join = (part: keyof Words) => [...new Set(options.map((option) => option[part]))].join(' or ');
      return { one: join('one'), many: join('many') };
    }
    case 'array': {
      const element = words(def.element as z.ZodType);
      const bounds = lengthBounds(core);
      return { one: `list of ${element.many}${bounds}`, many: `lists of ${element.many}${bounds}` };
    }
    case 'record': {
      const value = words(def.valueType as z.ZodType).one;
      return { one: `map of name to ${value}`, many: `maps of name to ${value}` };
    }
    case 'object':
      return { one: 'object', many: 'objects' };
    default:
      return { one: def.type, many: def.type };
  }
}

function valueWords(values: readonly unknown[]): Words {
  const quoted = values.map((value) => `\`${String(value)}\``);
  const text = quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}` : (quoted[0] ?? '');
  return { one: text, many: text };
}

function stringWords(schema: z.ZodString): Words {
  if (schema.format === 'url') return { one: 'URL', many: 'URLs' };
  const patterns = checksOf(schema)
    .filter((check) => check.format === 'regex')
    .map((check) => `\`${patternText(check.pattern as RegExp)}\``);
  const matching = patterns.length > 0 ? ` matching ${patterns.join(' and ')}` : '';
  const noun = (schema.minLength ?? 0) > 0 && matching === '' ? ['non-empty string', 'non-empty strings'] : ['string', 'strings'];
  return { one: `${noun[0]}${matching}`, many: `${noun[1]}${matching}` };
}

/** A regex as an operator reads it: no anchors, no escaped slashes. */
const patternText = (pattern: RegExp) => pattern.source.replace(/^\^/, '').replace(/\$$/, '').replaceAll('\\/', '/');

function numberWords(schema: z.ZodNumber): Words {
  const [one, many] = schema.isInt ? ['integer', 'integers'] : ['number', 'numbers'];
  const min = finite(schema.minValue);
  const max = finite(schema.maxValue);
  if (min === 0 && max === undefined) return { one: `non-negative ${one}`, many: `non-negative ${many}` };
  const range = min !== undefined && max !== undefined ? `, ${min} to ${max}` : min !== undefined ? ` ≥ ${min}` : max !== undefined ? ` ≤ ${max}` : '';
  return { one: `${one}${range}`, many: `${many}${range}` };
}

/** A bound worth saying: not the safe-integer limits every `int()` carries. */
const finite = (value: number | null) => (value === null || Math.abs(value) >= Number.MAX_SAFE_INTEGER || !Number.isFinite(value) ? undefined : value);

function lengthBounds(schema: z.ZodType): string {
  const checks = checksOf(schema);
  const min = checks.find((check) => check.check === 'min_length')?.minimum as number | undefined;
  const max = checks.find((check) => check.check === 'max_length')?.maximum as number | undefined;
  if (min !== undefined && max !== undefined) return ` (${min} to ${max})`;
  if (min !== undefined) return ` (at least ${min})`;
  return max !== undefined ? ` (at most ${max})` : '';
}

/** The checks (`.min()`, `.regex()`, ...) of a schema, as zod describes them to library authors. */
function checksOf(schema: z.ZodType): Array<Record<string, unknown>> {
  const checks = (defOf(schema).checks ?? []) as Array<{ _zod: { def: Record<string, unknown> } }>;
  return checks.map((check) => check._zod.def);
}

/** What the schema gives when the key is left out: a value, nothing (`undefined`), or an error. */
export type SchemaDefault = { required: true } | { required: false; value: unknown };

/**
 * The default of every key, by path (keys in schemaKeys' order, parents first). A key inside an
 * object with a default takes its value from the parent's (`defaults.retry.schedule` from
 * `defaults.retry`'s); any other key from its own schema, given nothing.
 */
export function schemaDefaults(keys: readonly ConfigKey[]): Map<string, SchemaDefault> {
  const defaults = new Map<string, SchemaDefault>();
  for (const key of keys) {
    const parent = key.parent === undefined ? undefined : defaults.get(key.parent);
    if (parent && !parent.required && parent.value !== null && typeof parent.value === 'object') {
      defaults.set(key.path, { required: false, value: (parent.value as Record<string, unknown>)[key.name] });
    } else {
      const result = key.schema.safeParse(undefined);
      defaults.set(key.path, result.success ? { required: false, value: result.data } : { required: true });
    }
  }
  return defaults;
}

/** A default as an operator would write it: `15s`, `256kb`, `[5s, 5m]`, `{ openAfter: 5m }`. */
export function formatValue(schema: z.ZodType | undefined, value: unknown): string {
  if (schema && typeof value === 'number' && isDuration(schema)) return formatDuration(value);
  if (schema && typeof value === 'number' && isSize(schema)) return formatSize(value);
  if (Array.isArray(value)) return `[${value.map((item) => formatValue(schema && part(schema, 'element'), item)).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([name, item]) => `${name}: ${formatValue(schema && part(schema, name), item)}`);
    return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  }
  return String(value);
}

/** The schema of a list's elements (`element`) or of an object's key, looking through wrappers and unions. */
function part(schema: z.ZodType, name: string): z.ZodType | undefined {
  const def = defOf(unwrap(schema));
  if (def.type === 'pipe') return part(writtenSide(def), name);
  if (def.type === 'union') return (def.options as z.ZodType[]).map((option) => part(option, name)).find(Boolean);
  if (def.type === 'array') return name === 'element' ? (def.element as z.ZodType) : undefined;
  if (def.type === 'object') return (def.shape as Record<string, z.ZodType>)[name];
  return undefined;
}

const SIZE_UNITS: ReadonlyArray<[string, number]> = [['gb', 1024 ** 3], ['mb', 1024 ** 2], ['kb', 1024]];

/** The largest unit that divides the size exactly: 262144 -> `256kb`. */
export function formatSize(bytes: number): string {
  const unit = SIZE_UNITS.find(([, size]) => bytes > 0 && bytes % size === 0);
  return unit ? `${bytes / unit[1]}${unit[0]}` : `${bytes}b`;
}
