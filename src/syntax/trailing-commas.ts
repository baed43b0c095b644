import type { SyntaxNode, Tree } from './parser.js';

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
  const found: number[] = [];
  if (!tree.rootNode.hasError) return found;
  const pending: SyntaxNode[] = [tree.rootNode];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.type === 'formals') {
      const comma = trailingComma(node);
      if (comma !== undefined) found.push(comma);
    }
    for (let i = node.childCount - 1; i >= 0; i--) {
      const child = node.child(i)!;
      if (child.hasError) pending.push(child);
    }
  }
  return found.sort((a, b) => a - b);
}

function trailingComma(formals: SyntaxNode): number | undefined {
  const parts = formals.children.filter((child) => child.type !== 'comment');
  const close = parts.pop();
  if (close?.type !== '}' || close.isMissing) return undefined;
  let last = parts.pop();
  // `{ a, }` → formal a, `,`, a formal whose name tree-sitter had to invent.
  if (last?.type === 'formal' && last.startIndex === last.endIndex && last.childForFieldName('name')?.isMissing) {
    last = parts.pop();
    if (last?.type !== ',') return undefined;
  } else if (last?.type === 'ERROR' && last.childCount === 1 && last.child(0)!.type === ',') {
    // `{ a ? "x", }` → formal a, ERROR(`,`).
    last = last.child(0)!;
  } else {
    return undefined;
  }
  const before = parts.pop();
  return before?.type === 'formal' && !before.hasError ? last.startIndex : undefined;
}
