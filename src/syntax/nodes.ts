import type { SyntaxNode } from './parser.js';
import type { SourceRange } from './range.js';

/** The node's span in the shape the rest of nixdisk uses. */
export function rangeOf(node: SyntaxNode): SourceRange {
  return {
    start: { line: node.startPosition.row, column: node.startPosition.column },
    end: { line: node.endPosition.row, column: node.endPosition.column },
  };
}

/**
 * The node's span, computed on first read. Each position costs a call into the
 * native binding, and the evaluator makes a range for every node it visits while
 * only a few of them are ever looked at.
 */
export function lazyRangeOf(node: SyntaxNode): SourceRange {
  let start: SourceRange['start'] | undefined;
  let end: SourceRange['end'] | undefined;
  return {
    get start() {
      start ??= { line: node.startPosition.row, column: node.startPosition.column };
      return start;
    },
    get end() {
      end ??= { line: node.endPosition.row, column: node.endPosition.column };
      return end;
    },
  };
}

/**
 * The children of `node` in field `field`, as the binding's `childrenForFieldName` gives
 * them. That method leaks the native cursor it walks with (tree-sitter 0.21.1 never
 * deletes it): a few hundred bytes a call, which the language server, analysing on every
 * keystroke, made into tens of megabytes.
 */
export function childrenInField(node: SyntaxNode | null | undefined, field: string): SyntaxNode[] {
  if (!node) return [];
  // The same walk, on a cursor object whose finalizer deletes it. (`fieldNameForChild`
  // is no substitute: it disagrees with the cursor on some children of ERROR recovery.)
  const cursor = node.walk();
  const found: SyntaxNode[] = [];
  if (!cursor.gotoFirstChild()) return found;
  do {
    if (cursor.currentFieldName === field) found.push(cursor.currentNode);
  } while (cursor.gotoNextSibling());
  return found;
}

/** Looks through any number of parentheses: `((e))` → `e`. */
export function unparenthesize(node: SyntaxNode): SyntaxNode {
  let current = node;
  while (current.type === 'parenthesized_expression') {
    const inner = current.childForFieldName('expression');
    if (!inner) break;
    current = inner;
  }
  return current;
}

/** The node whose child `node` is, skipping parentheses: the expression that actually consumes `node`'s value. */
export function consumerOf(node: SyntaxNode): { consumer: SyntaxNode | null; operand: SyntaxNode } {
  let operand = node;
  let parent = operand.parent;
  while (parent && parent.type === 'parenthesized_expression') {
    operand = parent;
    parent = parent.parent;
  }
  return { consumer: parent, operand };
}

/** The identifier text of a single-identifier attrpath (`x = …;`), else undefined. */
export function simpleBindingName(binding: SyntaxNode): string | undefined {
  const attrs = childrenInField(binding.childForFieldName('attrpath'), 'attr');
  return attrs.length === 1 && attrs[0].type === 'identifier' ? attrs[0].text : undefined;
}

/** True when `inner` lies within `outer` (or is it). */
export function contains(outer: SyntaxNode, inner: SyntaxNode): boolean {
  return outer.startIndex <= inner.startIndex && inner.endIndex <= outer.endIndex;
}

/**
 * Where a name used at `use` is bound lexically inside the file: the expression of a
 * `let`/`rec` binding `name = …;`, or `'argument'` when a function parameter binds it.
 * `with` scopes are ignored here (they only supply names nothing lexical binds).
 */
export function lexicalDefinition(name: string, use: SyntaxNode): SyntaxNode | 'argument' | undefined {
  let child = use;
  for (let scope = use.parent; scope; child = scope, scope = scope.parent) {
    switch (scope.type) {
      case 'let_expression':
      case 'rec_attrset_expression':
      case 'let_attrset_expression': {
        const bindingSet = scope.namedChildren.find((c) => c.type === 'binding_set');
        if (!bindingSet) break;
        for (const binding of childrenInField(bindingSet, 'binding')) {
          if (binding.type === 'binding' && simpleBindingName(binding) === name) {
            return binding.childForFieldName('expression') ?? undefined;
          }
          if (binding.type === 'inherit' && inheritsName(binding, name)) {
            // `inherit x;` re-binds the outer `x`: keep looking outside this scope.
            return lexicalDefinition(name, scope);
          }
        }
        break;
      }
      case 'function_expression': {
        if (child.type === 'formals') break;
        if (scope.childForFieldName('universal')?.text === name) return 'argument';
        const formals = scope.childForFieldName('formals');
        if (childrenInField(formals, 'formal').some((f) => f.childForFieldName('name')?.text === name)) {
          return 'argument';
        }
        break;
      }
    }
  }
  return undefined;
}

function inheritsName(inherit: SyntaxNode, name: string): boolean {
  return childrenInField(inherit.childForFieldName('attrs'), 'attr').some(
    (attr) => attr.type === 'identifier' && attr.text === name,
  );
}

/**
 * The identifiers spelled `name` inside `node`, in source order. Found by searching the
 * text and asking the tree only at each occurrence: in a large file that costs a few
 * native calls instead of one JS node for every node of a kind.
 */
export function identifiersNamed(node: SyntaxNode, name: string): SyntaxNode[] {
  const text = node.text;
  const found: SyntaxNode[] = [];
  for (let at = text.indexOf(name); at !== -1; at = text.indexOf(name, at + name.length)) {
    const start = node.startIndex + at;
    const candidate = node.descendantForIndex(start, start + name.length);
    // Elsewhere the occurrence is part of a longer name, a string or a comment.
    if (candidate.type === 'identifier' && candidate.startIndex === start && candidate.endIndex === start + name.length) found.push(candidate);
  }
  return found;
}

/** Distinct nodes in the order a pre-order walk meets them: by start, an enclosing node before what it encloses. */
export function inTreeOrder(nodes: readonly SyntaxNode[]): SyntaxNode[] {
  const distinct = new Map(nodes.map((node) => [node.id, node]));
  return [...distinct.values()].sort((a, b) => a.startIndex - b.startIndex || b.endIndex - a.endIndex);
}
