import type { Diagnostic, Severity } from './diagnostic.js';

/** One diagnostic as `nixdisk check --format json` prints it: 1-based lines and columns. */
export interface DiagnosticRecord {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: Severity;
  code: string;
  message: string;
  fix?: { description: string; replacement: string };
}

export function toRecord(file: string, d: Diagnostic): DiagnosticRecord {
  const record: DiagnosticRecord = {
    file,
    line: d.range.start.line + 1,
    column: d.range.start.column + 1,
    endLine: d.range.end.line + 1,
    endColumn: d.range.end.column + 1,
    severity: d.severity,
    code: d.code,
    message: d.message,
  };
  if (d.fix) record.fix = { description: d.fix.description, replacement: d.fix.replacement };
  return record;
}

export interface Paint {
  severity(severity: Severity, text: string): string;
  dim(text: string): string;
}

const PLAIN: Paint = { severity: (_, text) => text, dim: (text) => text };

/** `file:line:col: severity: message [code]`, the form compilers use so editors and CI can jump to it. */
export function formatRecord(record: DiagnosticRecord, paint: Paint = PLAIN): string {
  const where = `${record.file}:${record.line}:${record.column}`;
  const fix = record.fix ? `\n  ${paint.dim(`fix: ${record.fix.description}`)}` : '';
  return `${where}: ${paint.severity(record.severity, record.severity)}: ${record.message} ${paint.dim(`[${record.code}]`)}${fix}`;
}

/** "2 errors, 1 warning" — or "" when there is nothing to say. */
export function formatSummary(records: readonly DiagnosticRecord[]): string {
  const count = (severity: Severity) => records.filter((r) => r.severity === severity).length;
  const parts = (
    [
      ['error', count('error')],
      ['warning', count('warning')],
      ['info', count('info')],
    ] as const
  )
    .filter(([, n]) => n > 0)
    .map(([word, n]) => `${n} ${word}${n === 1 || word === 'info' ? '' : 's'}`);
  return parts.join(', ');
}
