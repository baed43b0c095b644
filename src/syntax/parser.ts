import { createRequire } from 'node:module';
import path from 'node:path';
import type ParserType from 'tree-sitter';
import { PACKAGE_ROOT } from '../package.js';
import { trailingFormalCommas } from './trailing-commas.js';

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

/** Rounds of re-parsing for trailing formal commas: more only matter when an earlier one hid a later one. */
const MAX_COMMA_PASSES = 4;

/**
 * Parses Nix source. tree-sitter never throws on bad input: errors become ERROR/MISSING
 * nodes. Valid Nix the old grammar rejects (trailing commas in formals) is parsed again
 * with those commas blanked to spaces: the same length, so every offset, position and
 * node text outside the commas stays that of `text`.
 */
export function parseNix(text: string): Tree {
  let source = text;
  let tree = parseOnce(source);
  for (let pass = 0; pass < MAX_COMMA_PASSES; pass++) {
    const commas = trailingFormalCommas(tree);
    if (commas.length === 0) break;
    source = blankOut(source, commas);
    tree = parseOnce(source);
  }
  return tree;
}

function parseOnce(text: string): Tree {
  // The default 32 KiB buffer makes the binding fall back to a slower callback for big files.
  return nixParser().parse(text, undefined, { bufferSize: Math.max(32 * 1024, text.length * 4 + 1) });
}

function blankOut(text: string, offsets: readonly number[]): string {
  const characters = text.split('');
  for (const offset of offsets) characters[offset] = ' ';
  return characters.join('');
}
