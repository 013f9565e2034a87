/**
 * The TSDoc of each configuration key, read by the TypeScript compiler from the schema's source.
 * The exported schema's type mirrors zod's `def` tree, and its object shapes are the very property
 * assignments of src/config/*.ts, comments attached: following a key's route (schema-keys.ts)
 * through that type ends on the property the comment sits on, in whichever file it is.
 */
import { relative } from 'node:path';
import ts from 'typescript';
import type { ConfigKey } from './schema-keys.js';

export interface KeyDoc {
  /** The comment without its tags, on one line; '' when the key has none. */
  readonly text: string;
  /** The text of its `@defaultValue` tag, if it has one. */
  readonly defaultValue?: string;
  /** `file:line` of the key in the source, for messages. */
  readonly location: string;
}

/** The TSDoc of every key, by path. `sourceFile` exports the schema as `exportName`. */
export function readKeyDocs(root: string, sourceFile: string, exportName: string, keys: readonly ConfigKey[]): Map<string, KeyDoc> {
  const program = ts.createProgram([sourceFile], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(sourceFile);
  const moduleSymbol = file && checker.getSymbolAtLocation(file);
  const exported = moduleSymbol && checker.getExportsOfModule(moduleSymbol).find((symbol) => symbol.name === exportName);
  if (!exported) throw new Error(`${sourceFile} does not export ${exportName}`);
  const rootType = checker.getTypeOfSymbol(exported);

  const docs = new Map<string, KeyDoc>();
  for (const key of keys) {
    const property = follow(checker, rootType, key.route);
    docs.set(key.path, property ? docOf(checker, property, root) : { text: '', location: `${sourceFile} (the key's route ${key.route.join('.')} is not in its type)` });
  }
  return docs;
}

/** The symbol at the end of `route`, each name a property of the type before it. */
function follow(checker: ts.TypeChecker, start: ts.Type, route: readonly string[]): ts.Symbol | undefined {
  let type = start;
  let symbol: ts.Symbol | undefined;
  for (const name of route) {
    symbol = checker.getNonNullableType(type).getProperty(name);
    if (!symbol) return undefined;
    type = checker.getTypeOfSymbol(symbol);
  }
  return symbol;
}

function docOf(checker: ts.TypeChecker, property: ts.Symbol, root: string): KeyDoc {
  const declaration = property.declarations?.[0];
  const source = declaration?.getSourceFile();
  const location = source && declaration ? `${relative(root, source.fileName)}:${source.getLineAndCharacterOfPosition(declaration.getStart()).line + 1}` : property.name;
  const text = oneLine(ts.displayPartsToString(property.getDocumentationComment(checker)));
  const tag = property.getJsDocTags(checker).find((candidate) => candidate.name === 'defaultValue');
  const defaultValue = tag ? oneLine(ts.displayPartsToString(tag.text)) : undefined;
  return defaultValue === undefined ? { text, location } : { text, defaultValue, location };
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
