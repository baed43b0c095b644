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
  const attrs = binding.childForFieldName('attrpath')?.childrenForFieldName('attr') ?? [];
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
        for (const binding of bindingSet.childrenForFieldName('binding')) {
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
        if (formals?.childrenForFieldName('formal').some((f) => f.childForFieldName('name')?.text === name)) {
          return 'argument';
        }
        break;
      }
    }
  }
  return undefined;
}

function inheritsName(inherit: SyntaxNode, name: string): boolean {
  return (inherit.childForFieldName('attrs')?.childrenForFieldName('attr') ?? []).some(
    (attr) => attr.type === 'identifier' && attr.text === name,
  );
}
