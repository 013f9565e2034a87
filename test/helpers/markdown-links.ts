/**
 * Reads the links of the project's Markdown pages and the doc citations of its code, and says
 * which of them point nowhere: a file that does not exist, or an anchor no heading of the target
 * page makes. Anchors follow GitHub's rules for headings: the heading's text (inline code, links
 * and emphasis reduced to their text), lower case, punctuation dropped except `-` and `_`, each
 * space a `-`, and `-1`, `-2`, ... for a repeated heading. Used by test/unit/docs-links.test.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/** A link or citation, where it was found, and what it names. */
export interface DocLink {
  /** The file that holds it, relative to the repository root. */
  readonly from: string;
  readonly line: number;
  /** As written, e.g. `../README.md#quick-start`. */
  readonly target: string;
  /** The file it names, relative to the repository root (the `from` file itself for `#anchor`). */
  readonly file: string;
  readonly anchor?: string;
}

/** GitHub's anchor of a heading's text. */
export function anchorOf(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*]/g, '') // code spans and emphasis
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(markdown: string): { text: string; line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, index) => {
    const opener = /^\s{0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence === undefined && opener) fence = opener;
    else if (fence !== undefined && opener?.startsWith(fence)) fence = undefined;
    else if (fence === undefined) lines.push({ text, line: index + 1 });
  });
  return lines;
}

/** Every anchor a page offers: one per heading (repeats numbered), and any `<a name>` or `id`. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text)?.[1];
    if (heading !== undefined) {
      const base = anchorOf(heading);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const match of text.matchAll(/<a\s[^>]*(?:name|id)="([^"]+)"/g)) anchors.add(match[1]!);
  }
  return anchors;
}

/** The relative links of a Markdown page (not those in code), with the file each names. */
export function markdownLinks(from: string, markdown: string): DocLink[] {
  const links: DocLink[] = [];
  // Joined again so a link whose text wraps onto the next line is found; line numbers are kept by
  // counting the line breaks before each match.
  const lines = proseLines(markdown);
  const text = lines.map((entry) => entry.text.replace(/`[^`\n]+`/g, (span) => ' '.repeat(span.length))).join('\n');
  for (const match of text.matchAll(/\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
    const line = lines[text.slice(0, match.index).split('\n').length - 1]!.line;
    links.push(resolve(from, line, target, dirname(from)));
  }
  return links;
}

/**
 * Doc citations in code and configuration: `docs/OPERATIONS.md#tracing` or `docs/PROTOCOL.md#delivery`,
 * relative to the repository root. A Markdown link inside code (`](X.md#a)`, text a generator
 * writes into a page) is the page's to check, not the code's.
 */
export function codeCitations(from: string, text: string): DocLink[] {
  const citations: DocLink[] = [];
  text.split('\n').forEach((lineText, index) => {
    for (const match of lineText.matchAll(/(?<![\w/.(-])((?:[\w-]+\/)*[\w-]+\.md)#([\w-]+)/g)) {
      citations.push(resolve(from, index + 1, `${match[1]}#${match[2]}`, '.'));
    }
  });
  return citations;
}

/** The folders whose files the pages name in code spans (`test/integration/receive.test.ts`, `src/spool/`). */
const REPOSITORY_FOLDERS = ['src', 'test', 'bench', 'scripts', 'deploy', 'config', 'workers', 'bin', 'docs'];

/**
 * Files and folders of the repository a page names in a code span of its own, relative to the
 * repository root: a moved test or source file leaves them pointing nowhere. Spans with a
 * placeholder (`<scope>`, `*`) or anything but a path are not paths.
 */
export function repositoryPaths(from: string, markdown: string): DocLink[] {
  const folders = REPOSITORY_FOLDERS.join('|');
  const paths: DocLink[] = [];
  for (const { text, line } of proseLines(markdown)) {
    for (const match of text.matchAll(new RegExp(`\`((?:${folders})/[\\w./-]*)\``, 'g'))) {
      paths.push(resolve(from, line, match[1]!, '.'));
    }
  }
  return paths;
}

/** `runbook_url`s of Prometheus rules: paths relative to the repository root. */
export function runbookUrls(from: string, text: string): DocLink[] {
  const urls: DocLink[] = [];
  text.split('\n').forEach((lineText, index) => {
    const url = /runbook_url:\s*["']?([^"'\s]+)/.exec(lineText)?.[1];
    if (url && !/^[a-z][a-z0-9+.-]*:/i.test(url)) urls.push(resolve(from, index + 1, url, '.'));
  });
  return urls;
}

function resolve(from: string, line: number, target: string, base: string): DocLink {
  const [path, anchor] = splitOnce(target, '#');
  const file = path === '' ? from : normalize(join(base, decodeURI(path))).replace(/\\/g, '/');
  return { from, line, target, file, ...(anchor === undefined ? {} : { anchor: decodeURIComponent(anchor) }) };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** What is wrong with each link that points nowhere, as `from:line: target: why`. */
export function linkProblems(root: string, links: readonly DocLink[]): string[] {
  const anchorsByFile = new Map<string, Set<string>>();
  const problems: string[] = [];
  for (const link of links) {
    const where = `${link.from}:${link.line}: ${link.target}`;
    const absolute = join(root, link.file);
    if (relative(root, absolute).startsWith('..')) {
      problems.push(`${where}: points outside the repository`);
    } else if (!existsSync(absolute)) {
      problems.push(`${where}: no file ${link.file}`);
    } else if (link.anchor !== undefined) {
      if (!link.file.endsWith('.md') || statSync(absolute).isDirectory()) {
        problems.push(`${where}: an anchor into a file that is not a Markdown page`);
        continue;
      }
      let anchors = anchorsByFile.get(link.file);
      if (!anchors) anchorsByFile.set(link.file, (anchors = anchorsOf(readFileSync(absolute, 'utf8'))));
      if (!anchors.has(link.anchor)) problems.push(`${where}: ${link.file} has no heading with the anchor #${link.anchor}`);
    }
  }
  return problems;
}
