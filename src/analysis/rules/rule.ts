import type { SourceRange } from '../../syntax/range.js';
import type { Diagnostic, Fix, Severity } from '../diagnostic.js';
import type { ResolvedArgument, ResolvedArguments } from '../schema.js';
import type { Attr, Value, ValueKind } from '../value.js';

/** What every rule sees: one call site's arguments, as written and after defaults. */
export interface RuleContext {
  /** Every argument after nixpkgs' defaults (unknown names left out). */
  args: ResolvedArguments;
  /** The arguments exactly as the call writes them, unknown names included. */
  given: ReadonlyMap<string, Attr>;
  /** The whole call, where diagnostics about missing arguments point. */
  callRange: SourceRange;
  /** The argument attrset; its closing brace is where a fix inserts a new argument. */
  argumentRange: SourceRange;
  /** Arguments the caller fills in itself (callPackage passes pkgs, lib and config from the package set). */
  suppliedByCaller: ReadonlySet<string>;
}

/**
 * A rule is a pure function from one call site to its findings. `code` is stable:
 * editors and CI filter on it, and every diagnostic the rule makes carries it.
 */
export interface Rule {
  code: string;
  summary: string;
  check(ctx: RuleContext): Diagnostic[];
}

export type KnownValue<K extends ValueKind> = Extract<Value, { kind: K }>;

/** The argument's value if it is known and of that kind; undefined otherwise (dynamic values never trigger rules). */
export function known<K extends ValueKind>(ctx: RuleContext, name: string, kind: K): KnownValue<K> | undefined {
  const value = ctx.args.get(name)?.value;
  return value?.kind === kind ? (value as KnownValue<K>) : undefined;
}

export function knownString(ctx: RuleContext, name: string): string | undefined {
  return known(ctx, name, 'string')?.value;
}

export function knownBool(ctx: RuleContext, name: string): boolean | undefined {
  return known(ctx, name, 'bool')?.value;
}

/** The argument when the call sets it explicitly. */
export function explicit(ctx: RuleContext, name: string): ResolvedArgument | undefined {
  const arg = ctx.args.get(name);
  return arg && !arg.isDefault ? arg : undefined;
}

/** Where a diagnostic about the argument points: its value if written, else the call. */
export function rangeOfArgument(ctx: RuleContext, name: string): SourceRange {
  return explicit(ctx, name)?.value.range ?? ctx.callRange;
}

export function diagnostic(code: string, severity: Severity, message: string, range: SourceRange, fix?: Fix): Diagnostic {
  return fix ? { severity, code, message, range, fix } : { severity, code, message, range };
}

/** A Nix string literal for `text`, for fixes. */
export function nixString(text: string): string {
  return JSON.stringify(text).replace(/\$\{/g, '\\${');
}

/** A fix that replaces the value of an argument the call writes. */
export function replaceValueFix(description: string, value: Value, replacement: string): Fix {
  return { description, range: value.range, replacement };
}

/**
 * A fix that adds `name = valueText;` to the call's attrset, just before its closing
 * brace; used when the offending value is a default and there is nothing to replace.
 */
export function addArgumentFix(ctx: RuleContext, description: string, name: string, valueText: string): Fix | undefined {
  const end = ctx.argumentRange.end;
  if (end.column === 0) return undefined;
  const brace = { line: end.line, column: end.column - 1 };
  return { description, range: { start: brace, end: brace }, replacement: `${name} = ${valueText}; ` };
}

/** Either replace the explicit value or add the argument. */
export function setArgumentFix(ctx: RuleContext, description: string, name: string, valueText: string): Fix | undefined {
  const given = explicit(ctx, name);
  return given ? replaceValueFix(description, given.value, valueText) : addArgumentFix(ctx, description, name, valueText);
}

export function quote(text: string): string {
  return JSON.stringify(text);
}
