import type ParserType from 'tree-sitter';

type SyntaxNode = ParserType.SyntaxNode;
type Tree = ParserType.Tree;

/**
 * Where the file ends function formals with a comma: `{ pkgs, lib, }:`, the form
 * nixfmt (RFC 166) writes and every Nix version accepts. tree-sitter-nix 0.0.2 predates
 * it and recovers with a MISSING formal after the comma, or an ERROR holding the comma
 * when the last default is a string, list or set. Returns the text offsets of those
 * commas (as `startIndex` counts them), in source order.
 *
 * Only a comma that tree-sitter put directly into a `formals` node, right after a whole
 * formal and right before that node's closing `}` (comments aside), is reported: not
 * one after `...` (`{ a, ..., }` is a real error), not two in a row, and never a comma
 * inside a string or a default value.
 */
export function trailingFormalCommas(tree: Tree): number[] {
  if (!tree.rootNode.hasError) return [];
  // One native search: walking the tree from JavaScript costs a call per node.
  return tree.rootNode
    .descendantsOfType('formals')
    .filter((formals) => formals.hasError)
    .flatMap((formals) => trailingComma(formals) ?? []);
}

function trailingComma(formals: SyntaxNode): number | undefined {
  const close = formals.lastChild;
  if (close?.type !== '}' || close.isMissing) return undefined;
  const last = significantBefore(close);
  // The comma as a child of `formals`, or the ERROR node that holds it.
  let comma: SyntaxNode | null;
  if (last?.type === 'formal' && last.startIndex === last.endIndex && last.childForFieldName('name')?.isMissing) {
    // `{ a, }` → formal a, `,`, a formal whose name tree-sitter had to invent.
    comma = significantBefore(last);
    if (comma?.type !== ',') return undefined;
  } else if (last?.type === 'ERROR' && last.childCount === 1 && last.firstChild!.type === ',') {
    // `{ a ? "x", }` → formal a, ERROR(`,`).
    comma = last;
  } else {
    return undefined;
  }
  const before = significantBefore(comma);
  return before?.type === 'formal' && !before.hasError ? comma.startIndex : undefined;
}

/** The sibling before `node`, comments skipped. */
function significantBefore(node: SyntaxNode): SyntaxNode | null {
  let previous = node.previousSibling;
  while (previous?.type === 'comment') previous = previous.previousSibling;
  return previous;
}
