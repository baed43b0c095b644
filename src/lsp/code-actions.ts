import { CodeActionKind, type CodeAction, type Range } from 'vscode-languageserver';
import { toLspDiagnostic } from './diagnostics.js';
import type { AnalyzedDocument } from './documents.js';
import { rangesOverlap, toLspRange } from './ranges.js';

/**
 * A quick fix for each diagnostic in `range` that has an obvious one: the rename that
 * "did you mean" proposes, the enum value a typo was close to, `installBootLoader =
 * false` for a store-only image. The fixes are the rules' own (`check` prints them too).
 */
export function codeActions(document: AnalyzedDocument, range: Range): CodeAction[] {
  const wanted = { start: { line: range.start.line, column: range.start.character }, end: { line: range.end.line, column: range.end.character } };
  return document.analysis.diagnostics
    .filter((diagnostic) => diagnostic.fix && rangesOverlap(diagnostic.range, wanted))
    .map((diagnostic) => ({
      title: diagnostic.fix!.description,
      kind: CodeActionKind.QuickFix,
      diagnostics: [toLspDiagnostic(diagnostic)],
      isPreferred: true,
      edit: { changes: { [document.uri]: [{ range: toLspRange(diagnostic.fix!.range), newText: diagnostic.fix!.replacement }] } },
    }));
}
