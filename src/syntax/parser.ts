import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type ParserType from 'tree-sitter';

const require = createRequire(import.meta.url);

/** The repository root, found from this file whether it runs from src/ (vitest) or dist/src/. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!require('node:fs').existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('nixdisk: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export const PACKAGE_ROOT = packageRoot();

let parser: ParserType | undefined;

/** The shared tree-sitter parser with the Nix grammar built by `npm run build:grammar`. */
export function nixParser(): ParserType {
  if (parser) return parser;
  const Parser = require('tree-sitter') as typeof ParserType;
  const bindingPath = path.join(PACKAGE_ROOT, 'grammar', 'build', 'Release', 'tree_sitter_nix_binding.node');
  let language: unknown;
  try {
    language = require(bindingPath);
  } catch (err) {
    throw new Error(`nixdisk: the Nix grammar is not built (${bindingPath}); run \`npm run build\``, { cause: err });
  }
  parser = new Parser();
  parser.setLanguage(language);
  return parser;
}

export type Tree = ParserType.Tree;
export type SyntaxNode = ParserType.SyntaxNode;

/** Parses Nix source. tree-sitter never throws on bad input: errors become ERROR/MISSING nodes. */
export function parseNix(text: string): Tree {
  // The default 32 KiB buffer makes the binding fall back to a slower callback for big files.
  return nixParser().parse(text, undefined, { bufferSize: Math.max(32 * 1024, text.length * 4 + 1) });
}
