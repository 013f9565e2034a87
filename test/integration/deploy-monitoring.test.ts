/**
 * deploy/prometheus/alerts.yml and deploy/grafana/zego-relay.json against the relay itself: the
 * rules file has the shape of a Prometheus rule file, every expression parses as PromQL (with the
 * Prometheus project's own grammar, @prometheus-io/lezer-promql), and every metric and label they
 * use is served by a running relay's /metrics after real traffic. Every alert links its runbook.
 * With promtool on PATH (Debian's prometheus package; .ci/run installs it) the rules also pass
 * `promtool check rules` and their unit tests, deploy/prometheus/alerts.test.yml.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackFields, signedBody } from '../../src/cli/simulate-callbacks.js';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { startWorkers, type WorkersHandle } from '../../workers/role.js';
import { APP_ID, SECRET, testConfig } from '../helpers/config.js';
import { useTestRedis } from '../helpers/redis.js';
import { ok, startTargetServer, type TargetServer } from '../helpers/targets.js';

const RULES_FILE = 'deploy/prometheus/alerts.yml';
const RULE_TESTS_FILE = 'deploy/prometheus/alerts.test.yml';
const SCRAPE_CONFIG_FILE = 'deploy/prometheus/prometheus.yml';
const DASHBOARD_FILE = 'deploy/grafana/zego-relay.json';
const RUNBOOKS_FILE = 'docs/RUNBOOKS.md';

/**
 * Labels Prometheus adds when it scrapes, never in /metrics itself: its own, and the `role` our
 * scrape configuration (deploy/prometheus/prometheus.yml) gives each target.
 */
const SCRAPE_LABELS = new Set(['instance', 'job', 'role']);

/** Series Prometheus writes itself for every scrape target (their labels are scrape labels). */
const PROMETHEUS_SERIES = ['up'];

/** promtool's version line, or undefined when it is not on PATH. */
const promtoolVersion = (() => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0 ? undefined : probe.stdout.split('\n')[0];
})();

/** Runs promtool; its whole output is the failure message. */
function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces as hyphens. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

/** Metric name -> the label names it carries in a /metrics text. */
function servedMetrics(text: string): Map<string, Set<string>> {
  const served = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? /.exec(line);
    if (!match) continue;
    const labels = served.get(match[1]!) ?? new Set<string>();
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(pair[1]!);
    served.set(match[1]!, labels);
  }
  return served;
}

interface PromqlUse {
  readonly metrics: string[];
  readonly labels: string[];
  readonly errors: string[];
}

/** Parses one expression; collects its metric names, label names and syntax errors. */
function promql(expression: string): PromqlUse {
  const use: PromqlUse = { metrics: [], labels: [], errors: [] };
  parser.parse(expression).iterate({
    enter(node) {
      const text = expression.slice(node.from, node.to);
      if (node.type.isError) use.errors.push(`syntax error at ${node.from}: "${expression.slice(Math.max(0, node.from - 10), node.to + 10)}"`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') use.metrics.push(text);
      if (node.name === 'LabelName') use.labels.push(text);
    },
  });
  return use;
}

/** Grafana's variables replaced by what they stand for, so the expression is plain PromQL. */
const withoutGrafanaVariables = (expression: string) => expression.replaceAll('$__rate_interval', '5m').replaceAll('$target', '.*');

interface Rule {
  alert?: unknown;
  record?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

/** The checks promtool's `check rules` makes on the file's structure (not the expressions). */
function ruleFileProblems(document: unknown): string[] {
  const problems: string[] = [];
  const groups = (document as { groups?: unknown })?.groups;
  if (!Array.isArray(groups) || groups.length === 0) return ['groups: must be a non-empty list'];
  const names = new Set<string>();
  for (const [index, group] of groups.entries()) {
    const { name, rules, ...rest } = group as { name?: unknown; rules?: unknown; interval?: unknown };
    if (typeof name !== 'string' || name === '') problems.push(`groups[${index}].name: required`);
    else if (names.has(name)) problems.push(`groups[${index}].name: "${name}" repeated`);
    else names.add(name);
    for (const key of Object.keys(rest)) if (!['interval', 'limit', 'query_offset', 'labels'].includes(key)) problems.push(`groups[${index}].${key}: unknown field`);
    if (!Array.isArray(rules) || rules.length === 0) {
      problems.push(`groups[${index}].rules: must be a non-empty list`);
      continue;
    }
    for (const [ruleIndex, rule] of (rules as Rule[]).entries()) {
      const where = `groups[${index}].rules[${ruleIndex}]`;
      for (const key of Object.keys(rule)) if (!['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(key)) problems.push(`${where}.${key}: unknown field`);
      if ((rule.alert === undefined) === (rule.record === undefined)) problems.push(`${where}: exactly one of alert and record`);
      if (rule.alert !== undefined && !(typeof rule.alert === 'string' && /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(rule.alert))) problems.push(`${where}.alert: not a valid name`);
      if (typeof rule.expr !== 'string' || rule.expr.trim() === '') problems.push(`${where}.expr: required`);
      if (rule.for !== undefined && !(typeof rule.for === 'string' && /^(\d+(ms|s|m|h|d|w|y))+$/.test(rule.for))) problems.push(`${where}.for: not a duration`);
      for (const field of ['labels', 'annotations'] as const) {
        for (const [key, value] of Object.entries(rule[field] ?? {})) {
          if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(key)) problems.push(`${where}.${field}.${key}: not a valid label name`);
          if (typeof value !== 'string') problems.push(`${where}.${field}.${key}: must be a string`);
        }
      }
    }
  }
  return problems;
}

/** Problems of one expression against what /metrics serves. */
function expressionProblems(where: string, expression: string, served: Map<string, Set<string>>): string[] {
  const use = promql(expression);
  const problems = use.errors.map((error) => `${where}: ${error}`);
  if (use.metrics.length === 0) problems.push(`${where}: selects no metric`);
  const labelsOfExpression = new Set<string>(SCRAPE_LABELS);
  for (const metric of use.metrics) {
    const labels = PROMETHEUS_SERIES.includes(metric) ? new Set<string>() : served.get(metric);
    if (!labels) problems.push(`${where}: ${metric} is not served by /metrics`);
    for (const label of labels ?? []) labelsOfExpression.add(label);
  }
  for (const label of use.labels) {
    if (!labelsOfExpression.has(label)) problems.push(`${where}: label ${label} is on none of ${use.metrics.join(', ')}`);
  }
  return problems;
}

describe('monitoring files against a running relay', () => {
  const redis = useTestRedis();
  let target: TargetServer;
  let receiver: ReceiverHandle;
  let workers: WorkersHandle;
  let admin: AdminHandle;
  let served: Map<string, Set<string>>;
  let servedText: string;

  beforeAll(async () => {
    target = await startTargetServer(ok);
    const config = testConfig({ redisUrl: redis.url, targetUrl: target.url });
    admin = await startAdmin(config, { logger: silentLogger });
    receiver = await startReceiver(config, { logger: silentLogger });
    workers = await startWorkers(config, { logger: silentLogger });
    const answer = await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: signedBody(callbackFields('mix_stop', APP_ID, 'monitoring', 0), SECRET),
    });
    expect(answer.status).toBe(200);
    await target.waitForRequests(1);
    // The delivery is counted once the worker has finished with it.
    let text = '';
    for (let tries = 0; !text.includes('zego_relay_deliveries_total{target="billing",outcome="delivered"} 1') && tries < 100; tries += 1) {
      if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      text = await (await fetch(`${admin.url}/metrics`)).text();
    }
    servedText = text;
    served = servedMetrics(text);
  });
  afterAll(async () => {
    await workers?.close();
    await receiver?.close();
    await admin?.close();
    await target?.close();
  });

  it(`${RULES_FILE} is a Prometheus rule file whose expressions parse and use served metrics and labels`, () => {
    const document = parseYaml(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] };
    expect(ruleFileProblems(document)).toEqual([]);
    const rules = document.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.alert)).toEqual([
      'ZegoRelayNoReceiver', 'ZegoRelayNoWorker', 'ZegoRelayProcessDown', 'ZegoRelayCallbacksRefused', 'ZegoRelayDeliveryWaiting',
      'ZegoRelayTargetOpen', 'ZegoRelayDeadLettersGrowing', 'ZegoRelayIntakePendingGrowing', 'ZegoRelayRedisDown', 'ZegoRelayReceiver5xx', 'ZegoRelaySpoolNotEmptying',
    ]);
    expect(rules.flatMap((rule) => expressionProblems(String(rule.alert), rule.expr as string, served))).toEqual([]);
    expect(rules.find((rule) => rule.alert === 'ZegoRelayTargetOpen')?.for).toBe('10m');
    // A spool that has held callbacks through the last 10 minutes, per receiver (each has its own).
    expect(rules.find((rule) => rule.alert === 'ZegoRelaySpoolNotEmptying')?.expr).toBe('min_over_time(zego_relay_spool_callbacks[10m]) > 0');
  });

  it(`every alert has a summary and a runbook_url naming its own heading of ${RUNBOOKS_FILE}`, () => {
    const rules = (parseYaml(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((group) => group.rules);
    const anchors = new Set([...readFileSync(RUNBOOKS_FILE, 'utf8').matchAll(/^#{2,4} (.+)$/gm)].map((match) => anchorOf(match[1]!)));
    for (const rule of rules) {
      expect(rule.annotations?.summary, `${String(rule.alert)}: summary`).toEqual(expect.any(String));
      expect(rule.annotations?.runbook_url, `${String(rule.alert)}: runbook_url`).toBe(`${RUNBOOKS_FILE}#${String(rule.alert).toLowerCase()}`);
      expect(anchors.has(String(rule.alert).toLowerCase()), `${RUNBOOKS_FILE} has a heading ${String(rule.alert)}`).toBe(true);
    }
    expect(anchorOf('Rotate the ZEGO callback secret (compose)')).toBe('rotate-the-zego-callback-secret-compose');
  });

  it('serves the 401 reasons at 0 before any refusal, so the first refusals after a restart count', () => {
    for (const reason of ['unknown_app', 'bad_signature', 'stale_timestamp']) {
      expect(servedText).toContain(`zego_relay_callbacks_rejected_total{reason="${reason}"} 0`);
    }
  });

  it(`${DASHBOARD_FILE} queries only served metrics and labels, in valid PromQL`, () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { name: string; definition?: string }[] };
    };
    const expressions = dashboard.panels.flatMap((panel) => panel.targets.map((query) => [panel.title, withoutGrafanaVariables(query.expr)] as const));
    expect(expressions.length).toBeGreaterThanOrEqual(10);
    expect(expressions.flatMap(([title, expression]) => expressionProblems(title, expression, served))).toEqual([]);
    // The target picker: label_values(metric, label) names a served metric and its label.
    for (const variable of dashboard.templating.list.filter((entry) => entry.definition)) {
      const [, metric, label] = /^label_values\((\w+), (\w+)\)$/.exec(variable.definition!) ?? [];
      expect(served.get(metric!)?.has(label!), variable.definition).toBe(true);
    }
    // The four views: rates, latency percentiles, queue depth per target, breaker state.
    const all = expressions.map(([, expression]) => expression).join('\n');
    for (const needed of ['rate(zego_relay_deliveries_total', 'histogram_quantile(0.99', 'zego_relay_queue_jobs', 'zego_relay_target_open']) expect(all).toContain(needed);
  });

  it('catches what it should: an unknown metric, an unknown label and a syntax error', () => {
    expect(expressionProblems('x', 'rate(zego_relay_nope_total[5m])', served)).toEqual(['x: zego_relay_nope_total is not served by /metrics']);
    expect(expressionProblems('x', 'sum by (colour) (zego_relay_target_open)', served)).toEqual(['x: label colour is on none of zego_relay_target_open']);
    expect(expressionProblems('x', 'sum(rate(zego_relay_deliveries_total[5m])', served)[0]).toMatch(/syntax error/);
    expect(ruleFileProblems({ groups: [{ name: 'a', rules: [{ alert: 'A', record: 'b', expr: 'up', for: 'soon' }] }] })).toEqual([
      'groups[0].rules[0]: exactly one of alert and record',
      'groups[0].rules[0].for: not a duration',
    ]);
  });
});

describe('promtool', () => {
  // CI installs promtool (.ci/run), so there this never skips; locally the skipped test's name says what to install.
  const promtoolTest = `checks ${RULES_FILE} and ${SCRAPE_CONFIG_FILE}, and passes every case of ${RULE_TESTS_FILE}`;
  if (promtoolVersion === undefined) console.warn(`skipped: promtool is not on PATH, so ${RULE_TESTS_FILE} did not run (apt-get install prometheus, as .ci/run does)`);
  it.skipIf(promtoolVersion === undefined)(promtoolVersion ? `${promtoolTest} (${promtoolVersion})` : `${promtoolTest} (SKIPPED: promtool is not on PATH; apt-get install prometheus)`, () => {
    const checked = promtool('check', 'rules', RULES_FILE);
    expect(checked.status, checked.output).toBe(0);
    const config = promtool('check', 'config', SCRAPE_CONFIG_FILE);
    expect(config.status, config.output).toBe(0);
    const tested = promtool('test', 'rules', RULE_TESTS_FILE);
    expect(tested.status, tested.output).toBe(0);
    expect(tested.output).toContain('SUCCESS');
  });

  it(`${RULE_TESTS_FILE} makes every alert fire in one case and stay quiet in another`, () => {
    const alerts = (parseYaml(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((group) => group.rules.map((rule) => String(rule.alert)));
    const tests = (parseYaml(readFileSync(RULE_TESTS_FILE, 'utf8')) as { rule_files: string[]; tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] });
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of alerts) {
      expect(cases.some((entry) => entry.alertname === alert && entry.exp_alerts.length > 0), `${alert} fires in some case`).toBe(true);
      expect(cases.some((entry) => entry.alertname === alert && entry.exp_alerts.length === 0), `${alert} stays quiet in some case`).toBe(true);
    }
  });
});
