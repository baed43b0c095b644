import type { SourceRange } from '../syntax/range.js';

/**
 * A partially evaluated Nix value. Every value remembers the source range of the
 * expression it came from, so diagnostics can point at it. `dynamic` stands for
 * anything the static evaluator cannot know (function arguments, `with` scopes,
 * builtins calls, …) and says why.
 */
export type Value =
  | { kind: 'string'; value: string; range: SourceRange }
  | { kind: 'int'; value: number; range: SourceRange }
  | { kind: 'float'; value: number; range: SourceRange }
  | { kind: 'bool'; value: boolean; range: SourceRange }
  | { kind: 'null'; range: SourceRange }
  /** `value` is absolute for relative paths (resolved against the file); `<x>` paths keep their brackets. */
  | { kind: 'path'; value: string; range: SourceRange }
  | { kind: 'list'; items: Value[]; range: SourceRange }
  | { kind: 'attrs'; attrs: Map<string, Attr>; range: SourceRange }
  | { kind: 'lambda'; range: SourceRange }
  | { kind: 'dynamic'; why: string; range: SourceRange };

/** One attribute of a known attrset: its value and the range of its name (for diagnostics on the key). */
export interface Attr {
  value: Value;
  nameRange: SourceRange;
}

export type ValueKind = Value['kind'];

export function isKnown(v: Value): boolean {
  return v.kind !== 'dynamic';
}

export function dynamicValue(why: string, range: SourceRange): Value {
  return { kind: 'dynamic', why, range };
}
