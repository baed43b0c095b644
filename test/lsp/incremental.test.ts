/**
 * The server analyses each version of a document from the tree of the version before.
 * After every step of an editing session its analysis must equal a fresh one of the text.
 */
import { TextDocument } from 'vscode-languageserver-textdocument';
import { describe, expect, it } from 'vitest';
import { analyzeFile, type FileAnalysis } from '../../src/analysis/analyze.js';
import { AnalysisCache } from '../../src/lsp/documents.js';
import { applyStep, SESSION_START, SESSION_STEPS } from './editing-session.js';

/** What an analysis tells the user, ranges read out (they are lazy). */
function told(analysis: FileAnalysis) {
  return JSON.parse(
    JSON.stringify({
      diagnostics: analysis.diagnostics,
      callSites: analysis.callSites.map((site) => ({ range: site.range, form: site.form, argument: site.argument.range })),
    }),
  ) as unknown;
}

describe('incremental analysis in the server', () => {
  it('equals a fresh analysis of the text after every step of an editing session', () => {
    const uri = 'file:///srv/images/session.nix';
    const document = TextDocument.create(uri, 'nix', 1, SESSION_START);
    const cache = new AnalysisCache();
    const seen = new Set<string>();
    const compare = (step: string) => {
      const incremental = told(cache.get(document).analysis);
      expect(incremental, step).toEqual(told(analyzeFile('/srv/images/session.nix', document.getText())));
      seen.add(JSON.stringify((incremental as { diagnostics: { code: string }[] }).diagnostics.map((d) => d.code)));
    };
    compare('the opened document');
    for (const [step, replacements] of SESSION_STEPS) {
      applyStep(document, replacements);
      TextDocument.update(document, [], document.version + 1);
      compare(step);
    }
    // The session is only a test if the diagnostics really changed along the way.
    expect(seen.size).toBeGreaterThanOrEqual(5);
  });
});
