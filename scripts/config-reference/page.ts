/**
 * docs/CONFIGURATION.md: a short hand-written introduction (how the file is found, variables,
 * units, errors, the environment), then one table per top-level key, generated from the reference
 * (reference.ts). Only the introduction is written here; every row comes from the schema.
 */
import type { ReferenceEntry } from './reference.js';

export const PAGE_PATH = 'docs/CONFIGURATION.md';

const INTRODUCTION = `# Configuration reference

Every key of the relay's YAML file: its type, its default and what it does. This page is generated
by \`npm run docs:config\` from the configuration schema (\`src/config/schema.ts\`,
\`src/config/redis-schema.ts\`) and the TSDoc comment on each key, and \`npm test\` fails when it is
out of date: edit those comments, not this page.

- **File:** \`--config FILE\`, else \`RELAY_CONFIG\`, else \`config/relay.yaml\`, the commented
  example of every key below (a test checks that it names each one). Check a file with
  \`npx zego-relay check-config --config FILE\`.
- **Variables:** \`\${VAR}\` and \`\${VAR:-default}\` in values are replaced from the environment
  before validation; integers and booleans may arrive as strings that way (\`port: \${PORT:-8080}\`).
- **Units:** a *duration* is milliseconds or \`500ms\`, \`5s\`, \`5m\`, \`2h\`, \`3d\`; a *size* is bytes
  or \`512b\`, \`256kb\`, \`1mb\`, \`1gb\`.
- **Errors:** an unknown key is an error, and every error names the path of the value at fault
  (a YAML syntax error, its line and column, with the lines around it shown and the values of
  secret keys masked); the relay does not start with an invalid file.
- **Environment:** \`REDIS_URL\` overrides \`redis.url\` (and is refused when \`redis.cluster\` or
  \`redis.sentinel\` is set), \`PORT\` overrides \`server.port\`, \`RELAY_MODE\` overrides \`mode\`.
  \`LOG_LEVEL\` (default \`info\`) and \`LOG_FORMAT\` (\`json\` or \`pretty\`) set the logs.
- **Tracing** has no key: OpenTelemetry is on when \`OTEL_EXPORTER_OTLP_ENDPOINT\` or
  \`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT\` is set, \`OTEL_EXPORTER_OTLP_PROTOCOL\` is \`http/protobuf\`
  (default) or \`http/json\`, and \`OTEL_SERVICE_NAME\` defaults to \`zego-relay\`
  ([OPERATIONS.md](OPERATIONS.md#tracing)).
`;

/** The whole page. */
export function renderPage(entries: readonly ReferenceEntry[]): string {
  const sections = groupBySection(entries);
  const contents = [...sections.keys()].map((name) => `[${name}](#${name.toLowerCase()})`).join(' · ');
  const tables = [...sections].map(([name, rows]) => renderSection(name, rows));
  return [INTRODUCTION, `Sections: ${contents}\n`, ...tables].join('\n');
}

/** Entries by top-level key, in the schema's order. */
function groupBySection(entries: readonly ReferenceEntry[]): Map<string, ReferenceEntry[]> {
  const sections = new Map<string, ReferenceEntry[]>();
  for (const entry of entries) {
    const section = entry.key.path.split(/[.[]/)[0]!;
    sections.set(section, [...(sections.get(section) ?? []), entry]);
  }
  return sections;
}

function renderSection(name: string, rows: readonly ReferenceEntry[]): string {
  const lines = rows.map((entry) => `| ${[`\`${entry.key.path}\``, entry.type, entry.defaultText, entry.doc.text].map(cell).join(' | ')} |`);
  return [`## \`${name}\``, '', '| key | type | default | meaning |', '|---|---|---|---|', ...lines, ''].join('\n');
}

/** Table cells hold no line break and escape the column separator, inside code spans too. */
const cell = (text: string) => text.replaceAll('|', '\\|');
