/**
 * Every relative link of the project's pages (README.md, CHANGELOG.md, docs/*.md), every
 * repository path they name in a code span, every `runbook_url` of the alert rules and every
 * `X.md#anchor` cited in code and configuration names a file that exists and, with an anchor, a
 * heading of that page (GitHub's anchor rules). A page
 * moved or a heading renamed without its links fails here. A fixture with broken links shows that
 * the checks find them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { anchorOf, anchorsOf, codeCitations, linkProblems, markdownLinks, repositoryPaths, runbookUrls, type DocLink } from '../helpers/markdown-links.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/docs-links/', import.meta.url));
const read = (root: string, path: string) => readFileSync(join(root, path), 'utf8');

const PAGES = ['README.md', 'CHANGELOG.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
const RULE_FILES = ['deploy/prometheus/alerts.yml', 'deploy/prometheus/alerts.test.yml'];

/** Code and configuration that may cite a page; this test and its helper cite broken ones on purpose. */
function codeFiles(): string[] {
  const folders = ['src', 'test', 'bench', 'scripts', 'workers', 'bin', 'config', 'deploy', '.ci'];
  const nested = folders.flatMap((folder) =>
    (readdirSync(join(ROOT, folder), { recursive: true }) as string[]).map((path) => `${folder}/${path.replace(/\\/g, '/')}`),
  );
  const top = readdirSync(ROOT).filter((name) => /^(docker-compose.*\.yml|Dockerfile|\.env\.example|vitest.*\.ts)$/.test(name));
  return [...nested, ...top].filter(
    (path) =>
      /(\.[cm]?[jt]s|\.ya?ml|Dockerfile|\.env\.example|\/run)$/.test(path) &&
      !path.startsWith('test/fixtures/docs-links/') &&
      !['test/unit/docs-links.test.ts', 'test/helpers/markdown-links.ts'].includes(path),
  );
}

describe('links between the docs', () => {
  it('every relative link of README.md, CHANGELOG.md and docs/*.md names an existing file and heading', () => {
    const links = PAGES.flatMap((page) => markdownLinks(page, read(ROOT, page)));
    expect(links.length).toBeGreaterThan(100);
    expect(linkProblems(ROOT, links)).toEqual([]);
  });

  it('every repository path the pages name in a code span (`test/...`, `src/...`) exists', () => {
    const paths = PAGES.flatMap((page) => repositoryPaths(page, read(ROOT, page)));
    expect(paths.length).toBeGreaterThan(100);
    expect(linkProblems(ROOT, paths)).toEqual([]);
  });

  it('every runbook_url of the alert rules names a heading of docs/RUNBOOKS.md', () => {
    const urls = RULE_FILES.flatMap((file) => runbookUrls(file, read(ROOT, file)));
    expect(urls.length).toBeGreaterThanOrEqual(11);
    expect(urls.every((url) => url.file === 'docs/RUNBOOKS.md')).toBe(true);
    expect(linkProblems(ROOT, urls)).toEqual([]);
  });

  it('every X.md#anchor cited in code, tests and configuration names an existing heading', () => {
    const citations = codeFiles().flatMap((file) => codeCitations(file, read(ROOT, file)));
    expect(citations.length).toBeGreaterThan(5);
    expect(linkProblems(ROOT, citations)).toEqual([]);
  });

  it('docs/BENCHMARKS.md has the headings of its template, so links into it survive the next `npm run bench`', () => {
    expect([...anchorsOf(read(ROOT, 'docs/BENCHMARKS.md'))]).toEqual([...anchorsOf(read(ROOT, 'bench/BENCHMARKS.template.md'))]);
  });
});

describe('the link checks on a fixture with broken links', () => {
  const problemsOf = (links: DocLink[]) => linkProblems(FIXTURE, links);

  it('report a missing file and a missing heading, and pass links that resolve, external ones and links in code', () => {
    const links = ['README.md', 'docs/PAGE.md'].flatMap((page) => markdownLinks(page, read(FIXTURE, page)));
    expect(links.map((link) => link.target)).toEqual([
      'docs/PAGE.md#a-heading', '#quick-start-1', 'docs/PAGE.md', 'docs/NOPE.md', 'docs/PAGE.md#no-such-heading',
      '../README.md#quick-start', '../README.md#gone',
    ]);
    expect(problemsOf(links)).toEqual([
      'README.md:12: docs/NOPE.md: no file docs/NOPE.md',
      'README.md:12: docs/PAGE.md#no-such-heading: docs/PAGE.md has no heading with the anchor #no-such-heading',
      'docs/PAGE.md:5: ../README.md#gone: README.md has no heading with the anchor #gone',
    ]);
  });

  it('report a path in a code span that names no file, and pass folders and patterns', () => {
    const paths = repositoryPaths('README.md', read(FIXTURE, 'README.md'));
    expect(paths.map((path) => path.target)).toEqual(['docs/PAGE.md', 'docs/', 'src/nope.ts']);
    expect(problemsOf(paths)).toEqual(['README.md:18: src/nope.ts: no file src/nope.ts']);
  });

  it('report a code citation and a runbook_url that name no heading', () => {
    const code = 'see README.md#quick-start and docs/PAGE.md#nope; `[x](PAGE.md#a-heading)` is a page\'s own link';
    expect(problemsOf(codeCitations('src/x.ts', code))).toEqual(['src/x.ts:1: docs/PAGE.md#nope: docs/PAGE.md has no heading with the anchor #nope']);
    const rules = 'annotations:\n  runbook_url: "docs/PAGE.md#a-heading"\n  runbook_url: "docs/PAGE.md#gone"\n  runbook_url: "https://wiki.example.com/x"';
    expect(problemsOf(runbookUrls('alerts.yml', rules))).toEqual(['alerts.yml:3: docs/PAGE.md#gone: docs/PAGE.md has no heading with the anchor #gone']);
  });

  it("make anchors as GitHub does: lower case, punctuation dropped but - and _, spaces to -, repeats numbered", () => {
    expect(anchorOf('AOF: what each `appendfsync` setting gives')).toBe('aof-what-each-appendfsync-setting-gives');
    expect(anchorOf('Backlog: 100,000 deliveries for a down target')).toBe('backlog-100000-deliveries-for-a-down-target');
    expect(anchorOf('Ordered delivery per key (`ordering`)')).toBe('ordered-delivery-per-key-ordering');
    expect(anchorOf('Refused callbacks: the [rejected list](x.md)')).toBe('refused-callbacks-the-rejected-list');
    expect(anchorOf('Tests, benchmarks — and **more**')).toBe('tests-benchmarks--and-more');
    expect([...anchorsOf(read(FIXTURE, 'README.md'))]).toEqual([
      'a-page-with-broken-links-testunitdocs-linkstestts', 'quick-start', 'quick-start-1', 'zego_relay_x-and-bold-100000-opss-ordering',
    ]);
  });
});
