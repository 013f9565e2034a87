/**
 * The folder graph of src/ and workers/ (README.md#architecture) stays without cycles: a folder
 * may use the folders below it, never one that uses it back. Type-only imports count too.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeCycle, findCycle, folderGraph, folderOf, projectImports, sourceFiles, type FolderGraph } from '../helpers/import-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const edges = projectImports(ROOT, ['src', 'workers']);
const graph = folderGraph(edges);

/** The folders `folder` imports. */
const importsOf = (folder: string) => [...(graph.get(folder)?.keys() ?? [])].sort();

describe('the folder graph', () => {
  it('reads the imports of every file (a sanity check on the parser)', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual({ from: 'src/cli/start.ts', to: 'src/roles/run-relay.ts' });
    // `import type` counts.
    expect(edges).toContainEqual({ from: 'src/redis/queues.ts', to: 'src/config/load.ts' });
  });

  it('has no cycle', () => {
    const cycle = findCycle(graph);
    expect(cycle && describeCycle(graph, cycle)).toBeUndefined();
  });

  it('src/ imports workers/ only where the roles are assembled (src/roles), and only the worker role', () => {
    const intoWorkers = edges.filter((edge) => edge.from.startsWith('src/') && edge.to.startsWith('workers/'));
    expect(intoWorkers.length).toBeGreaterThan(0);
    expect(intoWorkers.filter((edge) => folderOf(edge.from) !== 'src/roles' || edge.to !== 'workers/role.ts')).toEqual([]);
  });

  it('workers/ never imports the commands or the assembly of roles', () => {
    expect(edges.filter((edge) => edge.from.startsWith('workers/') && /^src\/(cli|roles)\//.test(edge.to))).toEqual([]);
  });

  it('the admin listener imports nothing from the receiver; both take their plumbing from src/http', () => {
    expect(importsOf('src/admin')).not.toContain('src/receive');
    expect(importsOf('src/admin')).toContain('src/http');
    expect(importsOf('src/receive')).toContain('src/http');
    // The plumbing is below both listeners: it knows neither.
    expect(importsOf('src/http')).not.toContain('src/receive');
    expect(importsOf('src/http')).not.toContain('src/admin');
  });

  it('src/lib and src/shared import nothing else of the project', () => {
    expect(importsOf('src/lib')).toEqual([]);
    expect(importsOf('src/shared')).toEqual([]);
  });

  it('every folder of src/ and workers/ is named in README.md#architecture', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const architecture = readme.slice(readme.indexOf('## Architecture'));
    const folders = [...new Set(edges.flatMap((edge) => [edge.from, edge.to]).map(folderOf))].filter((folder) => folder.includes('/') && !folder.endsWith('.ts'));
    expect(folders.length).toBeGreaterThan(15);
    expect(folders.filter((folder) => !architecture.includes(`${folder}/`))).toEqual([]);
  });
});

describe('one import path per name', () => {
  it('no file of src/ or workers/ re-exports what another file of the project exports', () => {
    const reExporting = ['src', 'workers']
      .flatMap((directory) => sourceFiles(join(ROOT, directory)))
      .filter((file) => /^export\s+(type\s+)?(\*|\{[^}]*\})\s+from\s+'\./m.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file));
    expect(reExporting).toEqual([]);
  });
});

describe('findCycle', () => {
  const graphOf = (pairs: Array<[string, string]>): FolderGraph =>
    folderGraph(pairs.map(([from, to]) => ({ from: `src/${from}/a.ts`, to: `src/${to}/b.ts` })));

  it('finds a cycle through several folders and names a file import for each step', () => {
    const cyclic = graphOf([['cli', 'store'], ['store', 'ops'], ['ops', 'receive'], ['receive', 'store']]);
    const cycle = findCycle(cyclic);
    expect(cycle).toEqual(['src/store', 'src/ops', 'src/receive', 'src/store']);
    expect(describeCycle(cyclic, cycle!)).toContain('src/receive -> src/store (src/receive/a.ts imports src/store/b.ts)');
  });

  it('finds none in a graph where two folders share a dependency', () => {
    expect(findCycle(graphOf([['cli', 'store'], ['cli', 'lib'], ['store', 'lib']]))).toBeUndefined();
  });
});
