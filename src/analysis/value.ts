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

/** What Nix's `lib.isDerivation` checks: an attribute set whose `type` is "derivation". */
export function isDerivation(v: Value): boolean {
  const type = v.kind === 'attrs' ? v.attrs.get('type')?.value : undefined;
  return type?.kind === 'string' && type.value === 'derivation';
}

/**
 * The text `"${v}"` gives, when it is known: a string, a path (which Nix would first copy
 * to the store; nixdisk reads it in place), or a set with an `outPath` such as a
 * derivation. nixpkgs only interpolates the file arguments, so these all work there.
 */
export function interpolatedText(v: Value): string | undefined {
  if (v.kind === 'string' || v.kind === 'path') return v.value;
  const outPath = v.kind === 'attrs' ? v.attrs.get('outPath')?.value : undefined;
  return outPath && outPath.kind !== 'attrs' ? interpolatedText(outPath) : undefined;
}
