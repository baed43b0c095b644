import type { AnalyzedCallSite, FileAnalysis } from '../analysis/analyze.js';
import type { Attr } from '../analysis/value.js';
import type { Position } from '../syntax/range.js';
import { rangeContains, rangeEncloses } from './ranges.js';

/** What the cursor is on, in terms of make-disk-image calls. */
export type CursorTarget =
  /** On the name of an argument the call writes (`bootSize` in `bootSize = "1G";`). */
  | { kind: 'argument-name'; site: AnalyzedCallSite; name: string; attr: Attr }
  /** Inside the value of an argument the call writes. */
  | { kind: 'argument-value'; site: AnalyzedCallSite; name: string; attr: Attr }
  /** Inside the argument set's braces, but on no argument. */
  | { kind: 'argument-set'; site: AnalyzedCallSite }
  /** On the call outside its argument set: the function expression. */
  | { kind: 'call'; site: AnalyzedCallSite };

/** The innermost call whose text holds the position. */
function siteAt(analysis: FileAnalysis, position: Position): AnalyzedCallSite | undefined {
  let found: AnalyzedCallSite | undefined;
  for (const site of analysis.callSites) {
    if (rangeContains(site.range, position)) found = site;
  }
  return found;
}

export function locate(analysis: FileAnalysis, position: Position): CursorTarget | undefined {
  const site = siteAt(analysis, position);
  if (!site) return undefined;
  const argument = site.argument;
  if (!rangeContains(argument.range, position)) return { kind: 'call', site };
  if (argument.kind !== 'attrs') return undefined;
  for (const [name, attr] of argument.attrs) {
    if (rangeContains(attr.nameRange, position)) return { kind: 'argument-name', site, name, attr };
    if (rangeContains(attr.value.range, position)) return { kind: 'argument-value', site, name, attr };
  }
  return rangeEncloses(argument.range, position) ? { kind: 'argument-set', site } : undefined;
}
