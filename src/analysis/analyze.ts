import { parseNix, type Tree } from '../syntax/parser.js';
import { findCallSites } from '../syntax/find-call-sites.js';
import { syntaxErrors } from '../syntax/syntax-errors.js';
import type { SourceRange } from '../syntax/range.js';
import type { CallSiteNode } from '../syntax/callsite.js';
import type { Diagnostic } from './diagnostic.js';
import { evaluate } from './evaluate.js';
import { applyDefaults, type ResolvedArgument } from './schema.js';
import { runRules } from './rules/index.js';
import { describeKind } from './rules/types.js';
import type { Attr, Value } from './value.js';
import { NO_RANGE } from '../syntax/range.js';

export interface AnalyzedCallSite {
  /** The whole application `f { … }`. */
  range: SourceRange;
  /** How the function was reached, from the call-site finder. */
  form: string;
  /** The argument as far as it is known. */
  argument: Value;
  /** Every make-disk-image argument after defaults; undefined when the argument is not a known attrset. */
  args?: Map<string, ResolvedArgument>;
  diagnostics: Diagnostic[];
}

export interface FileAnalysis {
  callSites: AnalyzedCallSite[];
  /** Syntax errors and every call site's diagnostics, in source order. */
  diagnostics: Diagnostic[];
}

export interface AnalyzeOptions {
  /**
   * Report syntax errors even when the file has no call site. Off for files found by
   * walking a directory, so arbitrary .nix files that never call make-disk-image
   * stay silent; on for files the user names.
   */
  alwaysReportSyntaxErrors?: boolean;
}

/** Defaults and rules for one call's argument attrset: the part shared with the Nix-evaluated build path. */
export function checkArguments(
  given: ReadonlyMap<string, Attr>,
  callRange: SourceRange,
  argumentRange: SourceRange,
  suppliedByCaller: ReadonlySet<string> = new Set(),
): { args: Map<string, ResolvedArgument>; diagnostics: Diagnostic[] } {
  const args = applyDefaults(given, callRange);
  return { args, diagnostics: runRules({ args, given, callRange, argumentRange, suppliedByCaller }) };
}

/** callPackage fills every argument the package set has an attribute for: pkgs, lib and config among make-disk-image's required ones. */
const CALL_PACKAGE_SUPPLIES: ReadonlySet<string> = new Set(['pkgs', 'lib', 'config']);

function internalError(error: unknown, range: SourceRange): Diagnostic {
  const detail = error instanceof Error ? error.message : String(error);
  return { severity: 'error', code: 'internal-error', message: `nixdisk could not analyse this (a bug in nixdisk, please report it): ${detail}`, range };
}

function analyzeCallSite(site: CallSiteNode, file: string): AnalyzedCallSite {
  const argument = evaluate(site.argument, file);
  const base = { range: site.range, form: site.form, argument };
  if (argument.kind === 'attrs') {
    const supplied = /\bcallPackage\b/.test(site.form) ? CALL_PACKAGE_SUPPLIES : new Set<string>();
    const { args, diagnostics } = checkArguments(argument.attrs, site.range, argument.range, supplied);
    return { ...base, args, diagnostics };
  }
  if (argument.kind === 'dynamic') {
    const message = `The arguments of this make-disk-image call are not known statically (${argument.why}); nixdisk build evaluates them with Nix`;
    return { ...base, diagnostics: [{ severity: 'info', code: 'dynamic-argument', message, range: argument.range }] };
  }
  const message = `make-disk-image takes an attribute set of arguments, not ${describeKind(argument)}`;
  return { ...base, diagnostics: [{ severity: 'error', code: 'wrong-type', message, range: argument.range }] };
}

function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column;
}

/**
 * Parse → syntax errors → call sites → partial evaluation → defaults → rules. Never
 * throws: an unexpected failure becomes an `internal-error` diagnostic at the call
 * site (or the file start) it happened in. `parse` must give the tree `parseNix` gives;
 * the language server passes one that reuses the tree of the document's previous version.
 */
export function analyzeFile(file: string, text: string, options: AnalyzeOptions = {}, parse: (text: string) => Tree = parseNix): FileAnalysis {
  let sites: CallSiteNode[];
  let syntax: Diagnostic[];
  try {
    const tree = parse(text);
    sites = findCallSites(tree);
    syntax = sites.length > 0 || options.alwaysReportSyntaxErrors ? syntaxErrors(tree).map((e) => ({ severity: 'error' as const, code: 'syntax-error', message: e.message, range: e.range })) : [];
  } catch (error) {
    return { callSites: [], diagnostics: [internalError(error, NO_RANGE)] };
  }
  const callSites = sites.map((site): AnalyzedCallSite => {
    try {
      return analyzeCallSite(site, file);
    } catch (error) {
      const argument: Value = { kind: 'dynamic', why: 'analysis failed', range: site.range };
      return { range: site.range, form: site.form, argument, diagnostics: [internalError(error, site.range)] };
    }
  });
  const diagnostics = [...syntax, ...callSites.flatMap((site) => site.diagnostics)].sort(byPosition);
  return { callSites, diagnostics };
}

