import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import type { Diagnostic, Severity } from '../analysis/diagnostic.js';
import { toLspRange } from './ranges.js';

const SEVERITY: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
};

/** The same code, message and range `nixdisk check` reports, as an editor shows it. */
export function toLspDiagnostic(diagnostic: Diagnostic): LspDiagnostic {
  return {
    range: toLspRange(diagnostic.range),
    severity: SEVERITY[diagnostic.severity],
    code: diagnostic.code,
    source: 'nixdisk',
    message: diagnostic.message,
  };
}

/**
 * The pause between an edit and the analysis it triggers. Edits that arrive together (a
 * paste, a multi-cursor change, an editor's batch, auto-repeat) are checked once; a
 * longer pause would add directly to how late diagnostics follow typing, and a person's
 * keystrokes are ten times further apart.
 */
export const DEBOUNCE_MS = 10;

/** One pending timer per document; a new edit restarts it. */
export class Debouncer {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  schedule(uri: string, delayMs: number, run: () => void): void {
    this.cancel(uri);
    this.timers.set(
      uri,
      setTimeout(() => {
        this.timers.delete(uri);
        run();
      }, delayMs),
    );
  }

  cancel(uri: string): void {
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
  }
}
