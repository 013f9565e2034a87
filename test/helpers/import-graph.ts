/**
 * The project's import graph by folder, read with TypeScript's own pre-parser (static imports,
 * `export ... from`, `import type` and dynamic `import()` alike). Type-only imports count: the rule
 * is about which folders a reader must understand to understand another, not only what loads at
 * run time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** One relative import: both ends as paths from the project root, with '/' separators. */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
}

/** Every .ts file under `directory`. */
export function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const posix = (path: string) => path.split(sep).join('/');

/** Every relative import of the .ts files under `directories` (paths from `root`). */
export function projectImports(root: string, directories: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of directories.flatMap((directory) => sourceFiles(join(root, directory)))) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), fileName).replace(/\.js$/, '.ts');
      if (!existsSync(target)) throw new Error(`${posix(relative(root, file))} imports ${fileName}, which is not a file`);
      edges.push({ from: posix(relative(root, file)), to: posix(relative(root, target)) });
    }
  }
  return edges;
}

/**
 * The folder a file belongs to: `src/redis` for src/redis/queues.ts, `src` for src/errors.ts,
 * `workers/route` for workers/route/router.ts, `workers` for workers/role.ts.
 */
export function folderOf(file: string): string {
  const parts = file.split('/');
  return (parts[0] === 'src' || parts[0] === 'workers') && parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Folder -> the folders it imports -> the file imports that make that edge. */
export type FolderGraph = Map<string, Map<string, ImportEdge[]>>;

export function folderGraph(edges: readonly ImportEdge[]): FolderGraph {
  const graph: FolderGraph = new Map();
  for (const edge of edges) {
    const from = folderOf(edge.from);
    const to = folderOf(edge.to);
    if (!graph.has(from)) graph.set(from, new Map());
    if (from === to) continue;
    const targets = graph.get(from)!;
    targets.set(to, [...(targets.get(to) ?? []), edge]);
  }
  return graph;
}

/** A cycle of folders ([a, b, a]), or undefined when the graph has none. */
export function findCycle(graph: FolderGraph): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (folder: string): string[] | undefined => {
    const at = path.indexOf(folder);
    if (at >= 0) return [...path.slice(at), folder];
    if (done.has(folder)) return undefined;
    path.push(folder);
    for (const next of graph.get(folder)?.keys() ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(folder);
    return undefined;
  };
  for (const folder of [...graph.keys()].sort()) {
    const cycle = visit(folder);
    if (cycle) return cycle;
  }
  return undefined;
}

/** A cycle in words, with one file import for each of its edges. */
export function describeCycle(graph: FolderGraph, cycle: readonly string[]): string {
  const steps = cycle.slice(1).map((to, index) => {
    const from = cycle[index]!;
    const edge = graph.get(from)!.get(to)![0]!;
    return `  ${from} -> ${to} (${edge.from} imports ${edge.to})`;
  });
  return `folder cycle ${cycle.join(' -> ')}:\n${steps.join('\n')}`;
}
