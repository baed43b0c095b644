import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { DiagnosticRecord } from '../analysis/format.js';

/** Directories never worth walking into for call sites. */
const SKIPPED_DIRECTORIES = new Set(['node_modules', '.git']);

export class UsageError extends Error {}

export interface CheckTarget {
  file: string;
  /** Named on the command line (syntax errors always reported) rather than found by a walk. */
  named: boolean;
}

/** The files to check: named files as given, directories walked for *.nix in a stable order. */
export async function collectTargets(paths: readonly string[]): Promise<CheckTarget[]> {
  const targets: CheckTarget[] = [];
  for (const given of paths) {
    const info = await stat(given).catch(() => undefined);
    if (!info) throw new UsageError(`no such file or directory: ${given}`);
    if (info.isDirectory()) {
      for (const file of await walk(given)) targets.push({ file, named: false });
    } else {
      targets.push({ file: given, named: true });
    }
  }
  return targets;
}

async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const entries = await readdir(current, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory() && !SKIPPED_DIRECTORIES.has(entry.name)) pending.push(full);
      else if (entry.isFile() && entry.name.endsWith('.nix')) found.push(full);
    }
  }
  return found.sort();
}

/** Every diagnostic of every target, in file order; the whole of `nixdisk check` except printing. */
export async function checkTargets(targets: readonly CheckTarget[]): Promise<DiagnosticRecord[]> {
  const { analyzeFile } = await import('../analysis/analyze.js');
  const { toRecord } = await import('../analysis/format.js');
  const records: DiagnosticRecord[] = [];
  for (const { file, named } of targets) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (named) throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
      continue;
    }
    const analysis = analyzeFile(path.resolve(file), text, { alwaysReportSyntaxErrors: named });
    for (const d of analysis.diagnostics) records.push(toRecord(file, d));
  }
  return records;
}

export function exitCodeFor(records: readonly DiagnosticRecord[]): 0 | 1 {
  return records.some((r) => r.severity === 'error') ? 1 : 0;
}

interface CheckArguments {
  files: string[];
  format: 'human' | 'json';
}

const check: CommandModule<object, CheckArguments> = {
  command: 'check <files..>',
  describe: 'Check make-disk-image call sites without running Nix',
  builder: (yargs) =>
    (yargs as Argv)
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'Nix files, or directories to search for *.nix' })
      .option('format', { choices: ['human', 'json'] as const, default: 'human' as const, describe: 'Output format' })
      .epilogue(
        [
          'Reports every make-disk-image call site whose arguments nixpkgs would reject, that',
          'nixdisk cannot build, or that do not do what they look like they do.',
          'Syntax errors are reported for the files you name, and for files found in a',
          'directory only when they contain a call site, so walking a tree of unrelated',
          '.nix files stays quiet.',
          '',
          'Exit status: 0 when there is no error (warnings and infos allowed), 1 when there',
          'is at least one error, 2 on bad usage such as a missing file.',
        ].join('\n'),
      ) as unknown as Argv<CheckArguments>,
  handler: async (argv) => {
    const { diagnosticPaint, err, out } = await import('./output.js');
    let records: DiagnosticRecord[];
    try {
      records = await checkTargets(await collectTargets(argv.files));
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      process.stderr.write(`nixdisk check: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (argv.format === 'json') {
      process.stdout.write(JSON.stringify(records, null, 2) + '\n');
    } else {
      const { formatRecord, formatSummary } = await import('../analysis/format.js');
      const paint = diagnosticPaint(out);
      for (const record of records) process.stdout.write(formatRecord(record, paint) + '\n');
      if (records.length > 0) process.stderr.write(err.dim(formatSummary(records)) + '\n');
    }
    process.exitCode = exitCodeFor(records);
  },
};

export default check;
