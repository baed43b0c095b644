/**
 * What `nixdisk plan` shows for a call site: every argument after defaults and the
 * partition layout they imply, as far as they are known statically. Pure.
 */
import { isValidUuid } from '../fstypes.js';
import type { TablePlan } from '../image/plan.js';
import { LAYOUTS, LayoutError, layoutPartitions, rootPartitionNumber, SECTORS_PER_MIB } from '../image/table/layouts.js';
import { imageFileName, PARTITION_TABLE_TYPES, type PartitionTableType } from '../options.js';
import { NO_RANGE } from '../syntax/range.js';
import { MiB, parseIecSize, SECTOR } from '../units.js';
import type { AnalyzedCallSite } from './analyze.js';
import { valueToJson } from './from-json.js';
import { DEFAULT_ROOT_GPUID, fixedDiskSizeMiB, type ResolvedArgument } from './schema.js';
import { dynamicValue, type Value } from './value.js';

/** A JSON value, or `{ "$dynamic": why }` for what only Nix knows. */
export type PlanValue = unknown;

export interface PartitionView {
  number: number;
  role: string;
  name: string;
  /** GPT type GUID, or the MBR type byte as "0x83". */
  type: string;
  /** GPT unique GUID; "random" when not deterministic. */
  uniqueGuid?: PlanValue;
  bootable: boolean;
  startBytes: number;
  /** null when the disk size is decided at build time (diskSize = "auto"). */
  sizeBytes: number | null;
}

export interface LayoutView {
  partitionTableType: string;
  table: 'none' | 'mbr' | 'gpt';
  diskSizeBytes: number | null;
  imageFile: PlanValue;
  diskGuid?: PlanValue;
  mbrSignature?: PlanValue;
  /** 0 when the filesystem is the whole image. */
  rootPartition: number;
  partitions: PartitionView[];
  filesystem: { fsType: PlanValue; label: PlanValue; uuid: PlanValue; startBytes: number; sizeBytes: number | null };
}

export interface CallSitePlan {
  line: number;
  column: number;
  form: string;
  /** Every argument after defaults; dynamic ones as `{ "$dynamic": why }`. */
  options: Record<string, PlanValue>;
  /** The names whose value is nixpkgs' default. */
  defaulted: string[];
  layout: LayoutView | { $dynamic: string } | { $error: string };
}

/** A disk size for the parts of a layout that do not depend on it (everything but the root partition's end). */
const PLACEHOLDER_DISK_MIB = 64 * 1024;

function dynamicWhy(value: Value | undefined, name: string): string {
  return value?.kind === 'dynamic' ? `${name} is not known (${value.why})` : `${name} is not valid`;
}

/** The layout a call's arguments imply, as far as they are known. Pure; never throws. */
export function describeLayout(args: ReadonlyMap<string, ResolvedArgument>): CallSitePlan['layout'] {
  const get = (name: string) => args.get(name)?.value;
  const tableValue = get('partitionTableType');
  if (tableValue?.kind !== 'string' || !(PARTITION_TABLE_TYPES as readonly string[]).includes(tableValue.value)) {
    return { $dynamic: dynamicWhy(tableValue, 'partitionTableType') };
  }
  const type = tableValue.value as PartitionTableType;
  const bootSize = get('bootSize');
  const bootBytes = bootSize?.kind === 'string' ? parseIecSize(bootSize.value) : null;
  const usesBootSize = LAYOUTS[type].partitions.some((p) => p.start.unit === 'bootSizeMiB' || p.end.unit === 'bootSizeMiB');
  if (usesBootSize && (bootBytes === null || bootBytes < 0)) return { $dynamic: dynamicWhy(bootSize, 'bootSize') };

  const fixedMiB = fixedDiskSizeMiB(get('diskSize'));
  const totalSectors = (fixedMiB ?? PLACEHOLDER_DISK_MIB) * SECTORS_PER_MIB;

  const rootGPUID = get('rootGPUID');
  const guidKnown = rootGPUID?.kind === 'string' && isValidUuid('dce', rootGPUID.value);
  const deterministic = get('deterministic');
  const placeholderEntropy = { guid: () => 'random', mbrSignature: () => 0 };
  let table: TablePlan;
  try {
    table = layoutPartitions(type, totalSectors, bootBytes ?? 0, guidKnown ? rootGPUID.value : DEFAULT_ROOT_GPUID, deterministic?.kind !== 'bool' || deterministic.value, placeholderEntropy);
  } catch (error) {
    if (error instanceof LayoutError) return { $error: error.message };
    throw error;
  }
  const identity = (known: PlanValue, dependsOnRootGPUID: boolean): PlanValue => {
    if (deterministic?.kind !== 'bool') return { $dynamic: dynamicWhy(deterministic, 'deterministic') };
    if (!deterministic.value) return 'random';
    if (dependsOnRootGPUID && !guidKnown) return { $dynamic: dynamicWhy(rootGPUID, 'rootGPUID') };
    return known;
  };
  const rootNumber = rootPartitionNumber(type);
  const partitions = table.partitions.map((p): PartitionView => {
    const view: PartitionView = {
      number: p.number,
      role: p.role,
      name: p.name,
      type: p.typeGuid ?? `0x${(p.mbrType ?? 0).toString(16).padStart(2, '0')}`,
      bootable: p.bootable,
      startBytes: p.firstSector * SECTOR,
      sizeBytes: p.role === 'root' && fixedMiB === undefined ? null : (p.lastSector - p.firstSector + 1) * SECTOR,
    };
    if (table.kind === 'gpt') view.uniqueGuid = identity(p.uniqueGuid, p.role === 'root' && type !== 'legacy+gpt');
    return view;
  });
  const root = partitions.find((p) => p.role === 'root');
  const diskSizeBytes = fixedMiB === undefined ? null : fixedMiB * MiB;
  const baseName = get('baseName');
  const format = get('format');
  const view: LayoutView = {
    partitionTableType: type,
    table: table.kind,
    diskSizeBytes,
    imageFile: baseName?.kind === 'string' && format?.kind === 'string' ? imageFileName({ baseName: baseName.value, format: format.value }) : { $dynamic: 'baseName or format is not known' },
    rootPartition: rootNumber > 0 ? rootNumber : 0,
    partitions,
    filesystem: {
      fsType: valueToJson(get('fsType') ?? dynamicValue('missing', NO_RANGE)),
      label: valueToJson(get('label') ?? dynamicValue('missing', NO_RANGE)),
      uuid: valueToJson(get('rootFSUID') ?? dynamicValue('missing', NO_RANGE)),
      startBytes: root?.startBytes ?? 0,
      sizeBytes: root ? root.sizeBytes : diskSizeBytes,
    },
  };
  if (table.kind === 'gpt') view.diskGuid = identity(table.diskGuid, false);
  if (table.kind === 'mbr') view.mbrSignature = identity(`0x${(table.mbrSignature ?? 0).toString(16).padStart(8, '0')}`, true);
  return view;
}

/** What `nixdisk plan` shows for one call site. */
export function planCallSite(site: AnalyzedCallSite): CallSitePlan {
  const position = { line: site.range.start.line + 1, column: site.range.start.column + 1, form: site.form };
  if (!site.args) {
    const why = site.argument.kind === 'dynamic' ? site.argument.why : 'the argument is not an attribute set';
    return { ...position, options: {}, defaulted: [], layout: { $dynamic: why } };
  }
  const options = Object.fromEntries([...site.args].map(([name, arg]) => [name, valueToJson(arg.value)]));
  const defaulted = [...site.args].filter(([, arg]) => arg.isDefault).map(([name]) => name);
  let layout: CallSitePlan['layout'];
  try {
    layout = describeLayout(site.args);
  } catch (error) {
    layout = { $error: `nixdisk could not compute the layout (a bug in nixdisk): ${error instanceof Error ? error.message : String(error)}` };
  }
  return { ...position, options, defaulted, layout };
}
