import { createRequire } from 'node:module';
import path from 'node:path';
import type ParserType from 'tree-sitter';
import { PACKAGE_ROOT } from '../package.js';

const require = createRequire(import.meta.url);

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
