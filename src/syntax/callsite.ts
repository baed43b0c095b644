import type { SourceRange } from './range.js';
import type { SyntaxNode } from './parser.js';

/**
 * Where a make-disk-image call is in a file. `argument` is the CST node of the
 * argument expression (usually an attrset); the analysis evaluates it.
 */
export interface CallSiteNode {
  /** The whole application `f { … }`. */
  range: SourceRange;
  /** How the function was reached, e.g. `import <nixpkgs/…>`, `callPackage`, `let-bound makeDiskImage`. */
  form: string;
  argument: SyntaxNode;
}
