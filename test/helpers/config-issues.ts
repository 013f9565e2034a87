/** The issues a configuration is refused with, for tests of the config's error messages. */
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** The issues of the ConfigError `text` is refused with; throws when it is accepted. */
export function issuesOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, { env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}
