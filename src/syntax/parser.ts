import { createRequire } from 'node:module';
import path from 'node:path';
import type ParserType from 'tree-sitter';
import { PACKAGE_ROOT } from '../package.js';
import { editBetween } from './text-edit.js';
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

/**
 * Parses Nix source. tree-sitter never throws on bad input: errors become ERROR/MISSING
 * nodes. Valid Nix the old grammar rejects (trailing commas in formals) is parsed again
 * with those commas blanked to spaces: the same length, so every offset, position and
 * node text outside the commas stays that of `text`.
 */
export function parseNix(text: string): Tree {
  return parseAcceptingTrailingCommas(text, parseOnce, parseOnce);
}

/**
 * `parseNix` for one document that changes a little at a time, as in an editor: each
 * parse starts from the tree of the one before (tree-sitter re-reads only what the edit
 * touched) and yields the tree `parseNix` would.
 */
export class DocumentParser {
  /** The document as written. */
  private readonly written = new ReusedTree();
  /** The document with its trailing formal commas blanked, while it has any. */
  private readonly blanked = new ReusedTree();

  parse(text: string): Tree {
    let blanks = false;
    const tree = parseAcceptingTrailingCommas(
      text,
      (source) => this.written.parse(source),
      (source) => {
        blanks = true;
        return this.blanked.parse(source);
      },
    );
    // Most documents never have a trailing comma: hold no second tree for them.
    if (!blanks) this.blanked.forget();
    return tree;
  }
}

/**
 * One source after another, each parsed from the tree of the one before. The tree kept
 * for the next parse is never handed out: `Tree.edit` also moves every node object
 * JavaScript still holds from its tree (the last analysis made thousands, not yet
 * collected), which cost more than the parse. Its twin, parsed from it with nothing
 * changed, shares every node with it and costs next to nothing.
 */
class ReusedTree {
  private source = '';
  private kept: Tree | undefined;
  private handedOut: Tree | undefined;

  parse(source: string): Tree {
    const edit = this.kept && editBetween(this.source, source);
    if (this.handedOut && !edit) return this.handedOut;
    if (edit) this.kept!.edit(edit);
    this.source = source;
    this.kept = parseOnce(source, this.kept);
    this.handedOut = parseOnce(source, this.kept);
    return this.handedOut;
  }

  forget(): void {
    this.source = '';
    this.kept = undefined;
    this.handedOut = undefined;
  }
}

/** Rounds of re-parsing for trailing formal commas: more only matter when an earlier one hid a later one. */
const MAX_COMMA_PASSES = 4;

function parseAcceptingTrailingCommas(text: string, parseWritten: (source: string) => Tree, parseBlanked: (source: string) => Tree): Tree {
  let source = text;
  let tree = parseWritten(source);
  for (let pass = 0; pass < MAX_COMMA_PASSES; pass++) {
    const commas = trailingFormalCommas(tree);
    if (commas.length === 0) break;
    source = blankOut(source, commas);
    tree = parseBlanked(source);
  }
  return tree;
}

function parseOnce(text: string, previous?: Tree): Tree {
  // The default 32 KiB buffer makes the binding fall back to a slower callback for big files.
  return nixParser().parse(text, previous, { bufferSize: Math.max(32 * 1024, text.length * 4 + 1) });
}

function blankOut(text: string, offsets: readonly number[]): string {
  const characters = text.split('');
  for (const offset of offsets) characters[offset] = ' ';
  return characters.join('');
}
