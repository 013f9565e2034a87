/**
 * `${VAR}` and `${VAR:-default}` in YAML string values, replaced from the environment before
 * validation. Replacement happens on parsed values, not on the raw text, so a secret holding
 * quotes, `#` or `:` cannot change the structure of the YAML.
 */

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export type Environment = Readonly<Record<string, string | undefined>>;

export function substituteString(text: string, env: Environment): string {
  return text.replace(REFERENCE, (_whole, name: string, fallback: string | undefined) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    return fallback ?? '';
  });
}

/** Returns a copy of a parsed YAML tree with every string value substituted. Keys are left alone. */
export function substituteTree(node: unknown, env: Environment): unknown {
  if (typeof node === 'string') return substituteString(node, env);
  if (Array.isArray(node)) return node.map((item) => substituteTree(item, env));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, substituteTree(value, env)]));
  }
  return node;
}
