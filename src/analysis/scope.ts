import type { SourceRange } from '../syntax/range.js';
import type { Value } from './value.js';

/**
 * A value during evaluation. Lists and attrsets hold thunks, as in Nix, so an
 * attribute that is unknown or broken never spoils its siblings and an unused
 * binding is never evaluated. `builtin` is a primitive the evaluator understands
 * by name (`toString`, the `builtins` set, module priority wrappers).
 */
export type LazyValue =
  | Exclude<Value, { kind: 'list' } | { kind: 'attrs' }>
  | { kind: 'list'; items: Thunk[]; range: SourceRange }
  | { kind: 'attrs'; attrs: Map<string, LazyAttr>; range: SourceRange }
  | { kind: 'builtin'; name: string; range: SourceRange };

export interface LazyAttr {
  thunk: Thunk;
  nameRange: SourceRange;
}

/** A value computed at most once, on first use; a thunk that needs itself yields a dynamic value instead of looping. */
export class Thunk {
  private value: LazyValue | undefined;
  private forcing = false;

  constructor(
    private compute: (() => LazyValue) | undefined,
    /** What the thunk is, for the infinite recursion message: "`a`". */
    private readonly label: string,
    private readonly range: SourceRange,
    known?: LazyValue,
  ) {
    this.value = known;
  }

  static of(value: LazyValue): Thunk {
    return new Thunk(undefined, '', value.range, value);
  }

  force(): LazyValue {
    if (this.value) return this.value;
    if (this.forcing || !this.compute) {
      return { kind: 'dynamic', why: `${this.label} refers to itself (infinite recursion)`, range: this.range };
    }
    this.forcing = true;
    try {
      this.value = this.compute();
    } finally {
      this.forcing = false;
    }
    this.compute = undefined;
    return this.value;
  }
}

/**
 * One level of the lexical environment. `bindings` comes from let and rec;
 * `arguments` from a function's parameters, whose values only Nix knows (the
 * map holds why); `with` supplies the names that nothing lexical binds.
 */
export type Scope =
  | { kind: 'bindings'; names: Map<string, Thunk>; parent: Scope | undefined }
  | { kind: 'arguments'; names: Map<string, string>; parent: Scope | undefined }
  | { kind: 'with'; environment: Thunk; source: string; parent: Scope | undefined };

export type Lookup =
  | { found: 'thunk'; thunk: Thunk }
  | { found: 'argument'; why: string }
  | { found: 'with'; scopes: Extract<Scope, { kind: 'with' }>[] }
  | { found: 'nothing' };

/**
 * Resolves a name as Nix does: any lexical binding, however far out, wins over every
 * `with`; among `with`s the innermost is asked first (the caller forces them in order).
 */
export function lookup(name: string, scope: Scope | undefined): Lookup {
  const withScopes: Extract<Scope, { kind: 'with' }>[] = [];
  for (let current = scope; current; current = current.parent) {
    if (current.kind === 'with') {
      withScopes.push(current);
    } else if (current.kind === 'bindings') {
      const thunk = current.names.get(name);
      if (thunk) return { found: 'thunk', thunk };
    } else {
      const why = current.names.get(name);
      if (why !== undefined) return { found: 'argument', why };
    }
  }
  return withScopes.length > 0 ? { found: 'with', scopes: withScopes } : { found: 'nothing' };
}
