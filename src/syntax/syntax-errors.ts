import type { SyntaxNode, Tree } from './parser.js';
import type { SourceRange } from './range.js';
import { rangeOf } from './nodes.js';

export interface NixSyntaxError {
  range: SourceRange;
  message: string;
}

const OPENERS: Record<string, string> = { '{': '}', '[': ']', '(': ')', '${': '}', '"': '"', "''": "''" };

/**
 * The places where the file is not valid Nix, as tree-sitter's error recovery saw
 * them: tokens it had to skip ("unexpected `}`") and tokens it had to assume
 * ("missing `;`"). One message per ERROR node; source order.
 */
export function syntaxErrors(tree: Tree): NixSyntaxError[] {
  const errors: NixSyntaxError[] = [];
  const root = tree.rootNode;
  if (!root.hasError) return errors;
  // Iterative, descending only into subtrees that hold an error: cheap on big files, safe on deep ones.
  const pending: SyntaxNode[] = [root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.isMissing) {
      errors.push({ range: rangeOf(node), message: `missing ${node.isNamed ? node.type.replace(/_/g, ' ') : `\`${node.type}\``}` });
    } else if (node.type === 'ERROR') {
      errors.push(describeError(node));
    } else if (node.hasError) {
      for (let i = node.childCount - 1; i >= 0; i--) pending.push(node.child(i)!);
    }
  }
  return errors.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column);
}

function describeError(error: SyntaxNode): NixSyntaxError {
  const tokens = leaves(error);
  if (isLastInFile(error)) {
    const unclosed = unclosedOpener(tokens);
    if (unclosed) {
      return { range: rangeOf(unclosed), message: `unexpected end of file: \`${unclosed.type}\` is never closed` };
    }
  }
  const first = tokens[0];
  if (!first) return { range: rangeOf(error), message: 'unexpected input' };
  const text = first.text.length > 30 ? `${first.text.slice(0, 27)}…` : first.text;
  // `a = 1\n  b = 2;` reads as `a = 1 b` followed by a stray `=`: name the likely cause.
  const before = previousToken(error);
  if (first.type === '=' && before?.type === 'identifier') {
    return { range: rangeOf(first), message: `unexpected \`=\`: missing \`;\` before \`${before.text}\`?` };
  }
  return { range: rangeOf(first), message: `unexpected \`${text}\`` };
}

/** Nothing but trivia follows `node`: the parser ran out of input inside it. */
function isLastInFile(node: SyntaxNode): boolean {
  for (let current: SyntaxNode | null = node; current; current = current.parent) {
    for (let next = current.nextSibling; next; next = next.nextSibling) {
      if (next.type !== 'comment' && next.endIndex > next.startIndex) return false;
    }
  }
  return true;
}

/** The token just before `node` in the file. */
function previousToken(node: SyntaxNode): SyntaxNode | undefined {
  let current: SyntaxNode | null = node;
  while (current && !current.previousSibling) current = current.parent;
  let token = current?.previousSibling ?? null;
  while (token && token.childCount > 0) token = token.lastChild;
  return token ?? undefined;
}

/** The tokens under `node`, in order. */
function leaves(node: SyntaxNode): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  const pending: SyntaxNode[] = [node];
  while (pending.length > 0) {
    const current = pending.pop()!;
    if (current.childCount === 0) {
      if (current.endIndex > current.startIndex) found.push(current);
      continue;
    }
    for (let i = current.childCount - 1; i >= 0; i--) pending.push(current.child(i)!);
  }
  return found;
}

/** The innermost bracket or quote that the tokens open and never close. */
function unclosedOpener(tokens: SyntaxNode[]): SyntaxNode | undefined {
  const open: SyntaxNode[] = [];
  for (const token of tokens) {
    const top = open[open.length - 1];
    if (top && OPENERS[top.type] === token.type) open.pop();
    else if (token.type in OPENERS) open.push(token);
  }
  return open[open.length - 1];
}
