import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { CallSitePlan, LayoutView } from '../analysis/plan-view.js';
import type { DiagnosticRecord } from '../analysis/format.js';
import { formatBytes } from '../units.js';

export interface FilePlan {
  file: string;
  callSites: CallSitePlan[];
}

/** The whole of `nixdisk plan` except printing: the plan of every call site, and the file's diagnostics. */
export async function planFile(file: string): Promise<{ plan: FilePlan; diagnostics: DiagnosticRecord[] }> {
  const text = await readFile(file, 'utf8');
  const { analyzeFile } = await import('../analysis/analyze.js');
  const { planCallSite } = await import('../analysis/plan-view.js');
  const { toRecord } = await import('../analysis/format.js');
  const analysis = analyzeFile(path.resolve(file), text, { alwaysReportSyntaxErrors: true });
  return {
    plan: { file, callSites: analysis.callSites.map(planCallSite) },
    diagnostics: analysis.diagnostics.map((d) => toRecord(file, d)),
  };
}

function isDynamic(value: unknown): value is { $dynamic: string } {
  return typeof value === 'object' && value !== null && '$dynamic' in value;
}

function showValue(value: unknown): string {
  if (isDynamic(value)) return `<dynamic: ${value.$dynamic}>`;
  return JSON.stringify(value);
}

function showBytes(bytes: number | null): string {
  return bytes === null ? 'grows with the contents' : `${bytes} bytes (${formatBytes(bytes)})`;
}

function formatLayout(layout: LayoutView): string[] {
  const lines = [
    `  layout: ${layout.partitionTableType} (${layout.table === 'none' ? 'no partition table' : layout.table.toUpperCase()})`,
    `    disk: ${layout.diskSizeBytes === null ? 'sized at build time (diskSize = "auto")' : showBytes(layout.diskSizeBytes)}`,
    `    image file: ${showValue(layout.imageFile)}`,
  ];
  if (layout.diskGuid !== undefined) lines.push(`    disk GUID: ${showValue(layout.diskGuid)}`);
  if (layout.mbrSignature !== undefined) lines.push(`    MBR signature: ${showValue(layout.mbrSignature)}`);
  for (const p of layout.partitions) {
    lines.push(
      `    ${p.number}. ${p.role}${p.name ? ` "${p.name}"` : ''} type ${p.type}${p.bootable ? ' active' : ''}` +
        `${p.uniqueGuid !== undefined ? ` guid ${showValue(p.uniqueGuid)}` : ''}`,
      `       start ${p.startBytes} (${formatBytes(p.startBytes)}), size ${showBytes(p.sizeBytes)}`,
    );
  }
  const fs = layout.filesystem;
  lines.push(
    `    root filesystem: ${showValue(fs.fsType)} label ${showValue(fs.label)} uuid ${showValue(fs.uuid)}` +
      `${layout.rootPartition ? ` on partition ${layout.rootPartition}` : ' (whole image)'}, size ${showBytes(fs.sizeBytes)}`,
  );
  return lines;
}

/** The human form of a plan. */
export function formatPlan(plan: FilePlan): string {
  if (plan.callSites.length === 0) return `${plan.file}: no make-disk-image call site\n`;
  const lines: string[] = [];
  for (const site of plan.callSites) {
    lines.push(`${plan.file}:${site.line}:${site.column}: make-disk-image call (${site.form})`, '  options:');
    const width = Math.max(0, ...Object.keys(site.options).map((name) => name.length));
    for (const [name, value] of Object.entries(site.options)) {
      lines.push(`    ${name.padEnd(width)}  ${showValue(value)}${site.defaulted.includes(name) ? '  (default)' : ''}`);
    }
    if (isDynamic(site.layout)) lines.push(`  layout: not known (${site.layout.$dynamic})`);
    else if ('$error' in site.layout) lines.push(`  layout: impossible: ${site.layout.$error}`);
    else lines.push(...formatLayout(site.layout));
    lines.push('');
  }
  return lines.join('\n');
}

interface PlanArguments {
  file: string;
  json: boolean;
}

const plan: CommandModule<object, PlanArguments> = {
  command: 'plan <file>',
  describe: "Show each call site's options and partition layout",
  builder: (yargs) =>
    (yargs as Argv)
      .positional('file', { type: 'string', demandOption: true, describe: 'A Nix file' })
      .option('json', { type: 'boolean', default: false, describe: 'Print JSON: { file, callSites: [{ line, column, options, layout }] }' })
      .epilogue(
        'Values only Nix can know are shown as { "$dynamic": "<why>" }. Exit status: 0, or 1 when a call site has an error (see `nixdisk check`), 2 on bad usage.',
      ) as unknown as Argv<PlanArguments>,
  handler: async (argv) => {
    let result: Awaited<ReturnType<typeof planFile>>;
    try {
      result = await planFile(argv.file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'EACCES') throw error;
      process.stderr.write(`nixdisk plan: cannot read ${argv.file}: ${(error as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stdout.write(argv.json ? JSON.stringify(result.plan, null, 2) + '\n' : formatPlan(result.plan));
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length > 0) {
      const { formatRecord } = await import('../analysis/format.js');
      for (const record of errors) process.stderr.write(formatRecord(record) + '\n');
      process.exitCode = 1;
    }
  },
};

export default plan;
