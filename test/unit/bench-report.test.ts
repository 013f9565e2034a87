import { describe, expect, it } from 'vitest';
import { medianPair } from '../../bench/e2e.js';
import {
  GENERATED_NOTE,
  formatNumber,
  ratioOf,
  renderReport,
  sectionTable,
  summaryTable,
  verdict,
  type MachineFacts,
  type SectionFigures,
} from '../../bench/report.js';

const ingest: SectionFigures = {
  id: 'ingest',
  title: 'Ingest',
  baselineName: 'bare Koa',
  rows: [
    { measure: 'requests/s', value: '1,200/s', baseline: '4,000/s', ratio: ratioOf(1200, 4000), goal: 0.4 },
    { measure: 'latency p99', value: '80.0 ms', baseline: '20.0 ms' },
  ],
};

const machine: MachineFacts = {
  cpuModel: 'Test CPU @ 2.0GHz',
  cores: 2,
  ramGb: 7.75,
  node: 'v20.19.0',
  redis: '7.0.15',
  os: 'Debian GNU/Linux 12 (bookworm), Linux 6.1.0',
  loadStart: [1.5, 1.25, 1],
  loadEnd: [3, 2.5, 2],
  date: '2026-01-02T03:04:05Z',
};

describe('benchmark report', () => {
  it('formats numbers with thousands separators, and decimals only below 100', () => {
    expect(formatNumber(12345.6)).toBe('12,346');
    expect(formatNumber(0.4166, 2)).toBe('0.42');
    expect(formatNumber(2195.4, 1)).toBe('2,195');
    expect(formatNumber(Number.NaN)).toBe('n/a');
  });

  it('marks a ratio below its goal as BELOW GOAL, without rounding it up', () => {
    expect(verdict(0.3, 0.4)).toBe('BELOW GOAL');
    expect(verdict(0.3999, 0.4)).toBe('BELOW GOAL');
    expect(verdict(0.4, 0.4)).toBe('meets goal');
    expect(verdict(ratioOf(10, 0), 1)).toBe('NOT MEASURED');
  });

  it('builds a section table with baseline, ratio, goal and verdict columns', () => {
    expect(sectionTable(ingest).split('\n')).toEqual([
      '| measure | zego-relay | bare Koa | ratio | goal | verdict |',
      '| --- | --- | --- | --- | --- | --- |',
      '| requests/s | 1,200/s | 4,000/s | 0.30x | >= 0.40x | BELOW GOAL |',
      '| latency p99 | 80.0 ms | 20.0 ms |  |  |  |',
    ]);
  });

  it('leaves out the columns no row has', () => {
    const table = sectionTable({ id: 'backlog', title: 'Backlog', rows: [{ measure: 'drain', value: '1,000 deliveries/s' }] });
    expect(table.split('\n')[0]).toBe('| measure | zego-relay |');
  });

  it('puts every goal row of every section in the summary', () => {
    const fanOut: SectionFigures = { id: 'fanout-5', title: 'Fan-out', baselineName: 'naive relay', rows: [{ measure: 'delivered/s', value: '900/s', baseline: '600/s', ratio: 1.5, goal: 1 }] };
    const rows = summaryTable([ingest, fanOut]).split('\n').slice(2);
    expect(rows).toEqual([
      '| Ingest: requests/s | 1,200/s vs 4,000/s (bare Koa) | 0.30x | >= 0.40x | BELOW GOAL |',
      '| Fan-out: delivered/s | 900/s vs 600/s (naive relay) | 1.50x | >= 1.00x | meets goal |',
    ]);
  });

  it('fills the template, says which sections did not run and drops the template comment', () => {
    const template = '<!-- edit {{summary}} here -->\n# B {{date}}\n{{summary}}\n{{machine}}\n{{method}}\n{{table:ingest}}\n{{table:backlog}}\n';
    const report = renderReport({ template, sections: [ingest], machine, method: ['50 connections'] });
    expect(report.startsWith(`${GENERATED_NOTE}\n# B 2026-01-02T03:04:05Z\n`)).toBe(true);
    expect(report).not.toContain('{{');
    expect(report).toContain('| load average (1/5/15 min) at end | 3.00 / 2.50 / 2.00 |');
    expect(report).toContain('| CPU | Test CPU @ 2.0GHz |');
    expect(report).toContain('- 50 connections');
    expect(report).toContain('| requests/s | 1,200/s | 4,000/s | 0.30x | >= 0.40x | BELOW GOAL |');
    expect(report).toContain('_Not measured in this run (section `backlog` was not selected)._');
  });
});

describe('medianPair (the isolation figure)', () => {
  it('takes the pair with the middle ratio, whatever the order measured', () => {
    const pairs = [{ ratio: 0.97, n: 1 }, { ratio: 0.75, n: 2 }, { ratio: 0.84, n: 3 }];
    expect(medianPair(pairs).n).toBe(3);
  });
  it('takes the lower middle pair of an even count, and the only pair of one', () => {
    expect(medianPair([{ ratio: 0.9 }, { ratio: 0.7 }, { ratio: 0.8 }, { ratio: 1.0 }]).ratio).toBe(0.8);
    expect(medianPair([{ ratio: 0.6 }]).ratio).toBe(0.6);
  });
  it('refuses an empty list', () => {
    expect(() => medianPair([])).toThrow(/no pairs/);
  });
});
