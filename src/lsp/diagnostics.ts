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

/** Bounds of the pause between the last edit and the analysis it triggers. */
export const MIN_DELAY_MS = 5;
export const MAX_DELAY_MS = 500;

/**
 * The pause before analysing after an edit: as long as the last analysis of the
 * document took. A small file is checked almost at once; a file that takes 300 ms is
 * not re-analysed on every keystroke, since edits arriving meanwhile restart the wait.
 */
export function debounceDelay(lastAnalysisMs: number | undefined): number {
  return Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, Math.round(lastAnalysisMs ?? MIN_DELAY_MS)));
}

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
