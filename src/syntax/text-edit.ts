import type ParserType from 'tree-sitter';

export type TextEdit = ParserType.Edit;
type Point = ParserType.Point;

/** Row and column (UTF-16 code units, as the binding counts) of `offset` in `text`. */
function pointAt(text: string, offset: number): Point {
  let row = 0;
  let lineStart = 0;
  for (let newline = text.indexOf('\n'); newline !== -1 && newline < offset; newline = text.indexOf('\n', newline + 1)) {
    row++;
    lineStart = newline + 1;
  }
  return { row, column: offset - lineStart };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * The one edit that turns `before` into `after`: the span between their common prefix and
 * common suffix, described the way tree-sitter's `Tree.edit` wants it. Undefined when the
 * texts are equal. Derived from the texts rather than from an editor's change events, so
 * that any number of changes, and text nixdisk rewrote itself (blanked commas), are one edit.
 */
export function editBetween(before: string, after: string): TextEdit | undefined {
  if (before === after) return undefined;
  const shorter = Math.min(before.length, after.length);
  let prefix = 0;
  while (prefix < shorter && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < shorter - prefix &&
    before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)
  ) {
    suffix++;
  }
  // Never between the halves of a surrogate pair: the edit's ends are character boundaries.
  if (prefix > 0 && isHighSurrogate(before.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isHighSurrogate(before.charCodeAt(before.length - suffix - 1))) suffix--;
  const startPosition = pointAt(before, prefix);
  const lineStart = prefix - startPosition.column;
  /** The end of the changed span in `text`, counted on from the start, which both texts share. */
  const endPoint = (text: string, end: number): Point => {
    const inSpan = pointAt(text.slice(lineStart, end), end - lineStart);
    return { row: startPosition.row + inSpan.row, column: inSpan.column };
  };
  return {
    startIndex: prefix,
    oldEndIndex: before.length - suffix,
    newEndIndex: after.length - suffix,
    startPosition,
    oldEndPosition: endPoint(before, before.length - suffix),
    newEndPosition: endPoint(after, after.length - suffix),
  };
}
