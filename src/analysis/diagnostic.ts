import type { SourceRange } from '../syntax/range.js';

export type Severity = 'error' | 'warning' | 'info';

/** A suggested edit: replace `range` with `replacement`. */
export interface Fix {
  description: string;
  range: SourceRange;
  replacement: string;
}

/**
 * One finding. `code` is stable across releases (editors and CI filters key on it),
 * e.g. `unknown-argument`, `invalid-enum`, `syntax-error`.
 */
export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  range: SourceRange;
  fix?: Fix;
}
