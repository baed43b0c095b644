/**
 * The Markdown an editor shows for an argument and for a layout. Pure: built from the
 * schema and from `describeLayout`, the same data `nixdisk plan` prints.
 */
import type { LayoutView, CallSitePlan } from '../analysis/plan-view.js';
import type { ArgumentSpec, ResolvedArguments } from '../analysis/schema.js';
import { NO_RANGE } from '../syntax/range.js';
import { valueToJson } from '../analysis/from-json.js';
import { MiB, SECTOR } from '../units.js';

/** A plan value as Nix-ish text: strings quoted, what only Nix knows said so. */
export function planValueText(value: unknown): string {
  if (value !== null && typeof value === 'object' && '$dynamic' in value) return `known only to Nix (${String(value.$dynamic)})`;
  return `\`${JSON.stringify(value)}\``;
}

/** The default of an argument given what else the call sets (label and rootFSUID depend on other arguments). */
function defaultText(spec: ArgumentSpec, args: ResolvedArguments | undefined): string {
  if (spec.required) return 'required, no default';
  if (!spec.defaultValue) return 'none';
  return planValueText(valueToJson(spec.defaultValue(args ?? new Map(), NO_RANGE)));
}

export function argumentMarkdown(spec: ArgumentSpec, args: ResolvedArguments | undefined): string {
  const lines = [`**${spec.name}** — ${spec.typeText}`, '', spec.doc, '', `Default: ${defaultText(spec, args)}`];
  if (spec.versions) lines.push('', `*${spec.versions}*`);
  return lines.join('\n');
}

/** Bytes with the MiB they make when whole, e.g. `269484032 (257 MiB)`. */
function offsetText(bytes: number): string {
  return bytes % MiB === 0 ? `${bytes} (${bytes / MiB} MiB)` : `${bytes} (${(bytes / MiB).toFixed(2)} MiB)`;
}

const TABLE_NAMES = { none: 'no partition table', mbr: 'MBR', gpt: 'GPT' } as const;

export function layoutMarkdown(layout: CallSitePlan['layout']): string {
  if ('$dynamic' in layout) return `**Layout**: known only when ${layout.$dynamic}`;
  if ('$error' in layout) return `**Layout**: none fits — ${layout.$error}`;
  return describedLayout(layout);
}

function describedLayout(layout: LayoutView): string {
  const disk = layout.diskSizeBytes === null ? 'size chosen at build time (diskSize = "auto")' : offsetText(layout.diskSizeBytes) + ' bytes';
  const lines = [`**Layout** \`${layout.partitionTableType}\`: ${TABLE_NAMES[layout.table]}, disk ${disk}`, ''];
  if (layout.partitions.length > 0) {
    lines.push('| # | name | role | type | start byte | first sector | size |', '|---|---|---|---|---|---|---|');
    for (const p of layout.partitions) {
      const size = p.sizeBytes === null ? 'to the end of the disk' : offsetText(p.sizeBytes);
      const name = p.name === '' ? '—' : p.name;
      lines.push(`| ${p.number}${p.bootable ? ' (active)' : ''} | ${name} | ${p.role} | ${p.type} | ${offsetText(p.startBytes)} | ${p.startBytes / SECTOR} | ${size} |`);
    }
    lines.push('');
  }
  const fs = layout.filesystem;
  const where = layout.rootPartition === 0 ? 'the whole image' : `partition ${layout.rootPartition}, from byte ${fs.startBytes}`;
  lines.push(`Root filesystem ${planValueText(fs.fsType)} labelled ${planValueText(fs.label)} on ${where}.`);
  lines.push('', `Image file: ${planValueText(layout.imageFile)}`);
  return lines.join('\n');
}
