/**
 * The key paths a YAML file names, commented out or not: a check that an example file shows every
 * key, not a parser. A commented line is read as if its `#` and one space were not there (so
 * `  # cluster:` is `redis.cluster` under `redis:`), indentation gives the parents, list items add
 * `[]`, and a flow mapping (`rateLimit: { max: 100, duration: 1s }`) names its keys too. Paths are
 * spelled as the configuration reference spells them: `targets[].retry.schedule`.
 */
import { parse } from 'yaml';

export function keyPathsIn(text: string): Set<string> {
  const paths = new Set<string>();
  const open: Array<{ column: number; path: string; list: boolean }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^(\s*)# ?/, '$1');
    const match = /^( *)(- +)?([A-Za-z_][\w-]*):(?=\s|$)(.*)$/.exec(line);
    if (!match) continue;
    const [, indent = '', dash = '', name = '', rest = ''] = match;
    const column = indent.length + dash.length;
    while (open.length > 0 && open.at(-1)!.column >= column) open.pop();
    const parent = open.at(-1);
    if (parent && dash) parent.list = true;
    const path = parent ? `${parent.path}${parent.list ? '[]' : ''}.${name}` : name;
    paths.add(path);
    for (const inner of flowKeys(rest)) paths.add(`${path}${inner}`);
    open.push({ column, path, list: false });
  }
  return paths;
}

/** The key paths inside a flow value (`{ max: 1, duration: 1s }` gives `.max`, `.duration`). */
function flowKeys(rest: string): string[] {
  let value: unknown;
  try {
    value = parse(rest.replace(/\s+#.*$/, ''));
  } catch {
    return [];
  }
  return pathsOf(value);
}

function pathsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => pathsOf(item).map((path) => `[]${path}`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([name, item]) => [`.${name}`, ...pathsOf(item).map((path) => `.${name}${path}`)]);
}
