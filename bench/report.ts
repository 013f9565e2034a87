/**
 * The benchmark's report: every section's figures as markdown tables, the goal checks in one
 * summary, machine facts and method, poured into the prose template bench/BENCHMARKS.template.md.
 * Everything here but `machineFacts` is pure (test/unit/bench-report.test.ts); bench/run.ts prints the
 * tables and writes docs/BENCHMARKS.md.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

/** One measured figure of a section, already formatted with its unit. */
export interface FigureRow {
  measure: string;
  /** zego-relay's figure. */
  value: string;
  /** The baseline's figure (bare Koa, the naive relay), when there is one. */
  baseline?: string;
  /** zego-relay / baseline, for figures where more is better. */
  ratio?: number;
  /** The ratio issue 5 asks for. */
  goal?: number;
}

/** One table of the report. `id` names its `{{table:id}}` placeholder in the template. */
export interface SectionFigures {
  id: string;
  title: string;
  /** The baseline column's heading, e.g. "bare Koa". */
  baselineName?: string;
  rows: FigureRow[];
  /** Lines printed under the table (warnings such as rejected requests). */
  notes?: string[];
}

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  ramGb: number;
  node: string;
  redis: string;
  os: string;
  loadStart: number[];
  loadEnd: number[];
  date: string;
}

export interface ReportInput {
  template: string;
  sections: SectionFigures[];
  machine: MachineFacts;
  /** The method's lines (connections, durations, N, appendfsync), one bullet each. */
  method: string[];
}

// ---- numbers ----

/** `1234.5` -> `1,235`; `digits` decimals below 100 (`0.4167` with 2 -> `0.42`). */
export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  const fraction = Math.abs(value) < 100 ? digits : 0;
  return value.toLocaleString('en-US', { minimumFractionDigits: fraction, maximumFractionDigits: fraction });
}

export const perSecond = (value: number, unit = '/s') => `${formatNumber(value)}${unit}`;
export const milliseconds = (value: number) => `${formatNumber(value, 1)} ms`;
export const megabytes = (bytes: number) => `${formatNumber(bytes / 1024 / 1024, 1)} MB`;
export const bytes = (value: number) => `${formatNumber(value)} B`;

/** `ours / baseline`, or NaN when the baseline is 0 (nothing to compare with). */
export function ratioOf(ours: number, baseline: number): number {
  return baseline > 0 ? ours / baseline : Number.NaN;
}

/** "meets goal" or "BELOW GOAL", never rounded up: 0.398 is below 0.40. */
export function verdict(ratio: number, goal: number): string {
  if (!Number.isFinite(ratio)) return 'NOT MEASURED';
  return ratio >= goal ? 'meets goal' : 'BELOW GOAL';
}

// ---- tables ----

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A section's table; the baseline, ratio and goal columns only when some row has them. */
export function sectionTable(section: SectionFigures): string {
  const hasBaseline = section.rows.some((row) => row.baseline !== undefined);
  const hasRatio = section.rows.some((row) => row.ratio !== undefined);
  const hasGoal = section.rows.some((row) => row.goal !== undefined);
  const header = ['measure', 'zego-relay'];
  if (hasBaseline) header.push(section.baselineName ?? 'baseline');
  if (hasRatio) header.push('ratio');
  if (hasGoal) header.push('goal', 'verdict');
  const rows = section.rows.map((row) => {
    const cells = [row.measure, row.value];
    if (hasBaseline) cells.push(row.baseline ?? '');
    if (hasRatio) cells.push(row.ratio === undefined ? '' : `${formatNumber(row.ratio, 2)}x`);
    if (hasGoal) {
      const checked = row.ratio !== undefined && row.goal !== undefined;
      cells.push(row.goal === undefined ? '' : `>= ${formatNumber(row.goal, 2)}x`, checked ? verdict(row.ratio!, row.goal!) : '');
    }
    return cells;
  });
  return markdownTable(header, rows);
}

/** Every goal row of every section in one table: the side-by-side view. */
export function summaryTable(sections: SectionFigures[]): string {
  const rows = sections.flatMap((section) =>
    section.rows
      .filter((row) => row.goal !== undefined)
      .map((row) => [
        `${section.title}: ${row.measure}`,
        `${row.value} vs ${row.baseline ?? '?'} (${section.baselineName ?? 'baseline'})`,
        `${formatNumber(row.ratio ?? Number.NaN, 2)}x`,
        `>= ${formatNumber(row.goal!, 2)}x`,
        verdict(row.ratio ?? Number.NaN, row.goal!),
      ]),
  );
  if (rows.length === 0) return '_No section with a goal ran._';
  return markdownTable(['figure', 'measured', 'ratio', 'goal', 'verdict'], rows);
}

/** The table plus its notes, as printed and as placed in the template. */
export function sectionBlock(section: SectionFigures): string {
  return [sectionTable(section), ...(section.notes ?? []).map((note) => `\n> ${note}`)].join('\n');
}

export function machineTable(machine: MachineFacts): string {
  const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  return markdownTable(
    ['fact', 'value'],
    [
      ['date', machine.date],
      ['CPU', machine.cpuModel],
      ['cores', String(machine.cores)],
      ['RAM', `${formatNumber(machine.ramGb, 1)} GB`],
      ['OS', machine.os],
      ['Node', machine.node],
      ['Redis', machine.redis],
      ['load average (1/5/15 min) at start', load(machine.loadStart)],
      ['load average (1/5/15 min) at end', load(machine.loadEnd)],
    ],
  );
}

export const GENERATED_NOTE = '<!-- Generated by `npm run bench` from bench/BENCHMARKS.template.md: edit the prose there. -->';

/**
 * Fills the template: `{{machine}}`, `{{method}}`, `{{summary}}`, `{{date}}` and one
 * `{{table:ID}}` per section. A section that did not run says so instead of leaving stale figures.
 */
export function renderReport(input: ReportInput): string {
  const byId = new Map(input.sections.map((section) => [section.id, section]));
  // The template's own leading comment (how to edit it) gives way to a note on where this file comes from.
  const body = input.template.replace(/^<!--[\s\S]*?-->\s*/, '');
  return `${GENERATED_NOTE}\n${body}`
    .replace(/\{\{table:([a-z0-9-]+)\}\}/g, (_match, id: string) => {
      const section = byId.get(id);
      return section ? sectionBlock(section) : `_Not measured in this run (section \`${id}\` was not selected)._`;
    })
    .replace(/\{\{summary\}\}/g, () => summaryTable(input.sections))
    .replace(/\{\{machine\}\}/g, () => machineTable(input.machine))
    .replace(/\{\{method\}\}/g, () => input.method.map((line) => `- ${line}`).join('\n'))
    .replace(/\{\{date\}\}/g, () => input.machine.date);
}

// ---- the machine (not pure) ----

function firstMatch(file: string, pattern: RegExp): string | undefined {
  try {
    return pattern.exec(readFileSync(file, 'utf8'))?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** Facts from /proc, /etc/os-release and `os`; `loadStart` and `redisVersion` come from the run. */
export function machineFacts(redisVersion: string, loadStart: number[]): MachineFacts {
  const distribution = firstMatch('/etc/os-release', /^PRETTY_NAME="?([^"\n]*)"?$/m) ?? process.platform;
  return {
    cpuModel: firstMatch('/proc/cpuinfo', /^model name\s*:\s*(.+)$/m) ?? cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    ramGb: totalmem() / 1024 ** 3,
    node: process.version,
    redis: redisVersion,
    os: `${distribution}, Linux ${release()}`,
    loadStart,
    loadEnd: loadavg(),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}
