/**
 * `npm run docs:config`: writes docs/CONFIGURATION.md from the configuration schema and its TSDoc
 * (scripts/config-reference/). Refuses, naming each key, while a key has no TSDoc or a
 * `@defaultValue` disagrees with the schema: the page would say something untrue.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAGE_PATH, renderPage } from './config-reference/page.js';
import { buildReference, repositoryRoot } from './config-reference/reference.js';

const root = repositoryRoot();
const reference = buildReference();
const problems = [...reference.docProblems, ...reference.defaultProblems];
if (problems.length > 0) {
  process.stderr.write(`docs:config: fix the schema's comments first (src/config/):\n${problems.map((problem) => `  - ${problem}\n`).join('')}`);
  process.exitCode = 1;
} else {
  writeFileSync(join(root, PAGE_PATH), renderPage(reference.entries));
  process.stdout.write(`docs:config: wrote ${PAGE_PATH} (${reference.entries.length} keys)\n`);
}
