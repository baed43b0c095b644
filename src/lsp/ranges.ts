import type { Position as LspPosition, Range as LspRange } from 'vscode-languageserver';
import type { Position, SourceRange } from '../syntax/range.js';

/*
 * nixdisk's ranges count lines from 0 and columns in UTF-16 code units (what the
 * tree-sitter binding reports for JS strings), which is LSP's default position encoding:
 * the conversion is a renaming, no text needs to be looked at.
 */

export function toLspRange(range: SourceRange): LspRange {
  return {
    start: { line: range.start.line, character: range.start.column },
    end: { line: range.end.line, character: range.end.column },
  };
}

export function fromLspPosition(position: LspPosition): Position {
  return { line: position.line, column: position.character };
}

function compare(a: Position, b: Position): number {
  return a.line - b.line || a.column - b.column;
}

/** Whether `position` lies in `range`, its end included (a cursor just after a word is "on" it). */
export function rangeContains(range: SourceRange, position: Position): boolean {
  return compare(range.start, position) <= 0 && compare(position, range.end) <= 0;
}

/** Whether `position` lies strictly between the first and last character of `range` (inside its delimiters). */
export function rangeEncloses(range: SourceRange, position: Position): boolean {
  return compare(range.start, position) < 0 && compare(position, range.end) < 0;
}

export function rangesOverlap(a: SourceRange, b: SourceRange): boolean {
  return compare(a.start, b.end) <= 0 && compare(b.start, a.end) <= 0;
}
