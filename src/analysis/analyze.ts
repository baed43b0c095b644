import { parseNix } from '../syntax/parser.js';
import { findCallSites } from '../syntax/find-call-sites.js';
import { syntaxErrors } from '../syntax/syntax-errors.js';
import type { SourceRange } from '../syntax/range.js';
import type { CallSiteNode } from '../syntax/callsite.js';
import type { Diagnostic } from './diagnostic.js';
import { evaluate } from './evaluate.js';
import { applyDefaults, type ResolvedArgument } from './schema.js';
import { runRules } from './rules/index.js';
import { describeKind } from './rules/types.js';
import { dynamicValue, type Attr, type Value } from './value.js';
import { valueToJson } from './from-json.js';
import { DEFAULT_ROOT_GPUID } from './schema.js';
import { imageFileName, PARTITION_TABLE_TYPES, type PartitionTableType } from '../options.js';
import { LAYOUTS, LayoutError, layoutPartitions, rootPartitionNumber, SECTORS_PER_MIB } from '../image/table/layouts.js';
import type { TablePlan } from '../image/plan.js';
import { MiB, parseIecSize, SECTOR } from '../units.js';
import { NO_RANGE } from '../syntax/range.js';

export interface AnalyzedCallSite {
  /** The whole application `f { … }`. */
  range: SourceRange;
  /** How the function was reached, from the call-site finder. */
  form: string;
  /** The argument as far as it is known. */
  argument: Value;
  /** Every make-disk-image argument after defaults; undefined when the argument is not a known attrset. */
  args?: Map<string, ResolvedArgument>;
  diagnostics: Diagnostic[];
}

export interface FileAnalysis {
  callSites: AnalyzedCallSite[];
  /** Syntax errors and every call site's diagnostics, in source order. */
  diagnostics: Diagnostic[];
}

export interface AnalyzeOptions {
  /**
   * Report syntax errors even when the file has no call site. Off for files found by
   * walking a directory, so arbitrary .nix files that never call make-disk-image
   * stay silent; on for files the user names.
   */
  alwaysReportSyntaxErrors?: boolean;
}

/** Defaults and rules for one call's argument attrset: the part shared with the Nix-evaluated build path. */
export function checkArguments(
  given: ReadonlyMap<string, Attr>,
  callRange: SourceRange,
  argumentRange: SourceRange,
  suppliedByCaller: ReadonlySet<string> = new Set(),
): { args: Map<string, ResolvedArgument>; diagnostics: Diagnostic[] } {
  const args = applyDefaults(given, callRange);
  return { args, diagnostics: runRules({ args, given, callRange, argumentRange, suppliedByCaller }) };
}

/** callPackage fills every argument the package set has an attribute for: pkgs, lib and config among make-disk-image's required ones. */
const CALL_PACKAGE_SUPPLIES: ReadonlySet<string> = new Set(['pkgs', 'lib', 'config']);

function internalError(error: unknown, range: SourceRange): Diagnostic {
  const detail = error instanceof Error ? error.message : String(error);
  return { severity: 'error', code: 'internal-error', message: `nixdisk could not analyse this (a bug in nixdisk, please report it): ${detail}`, range };
}

function analyzeCallSite(site: CallSiteNode, file: string): AnalyzedCallSite {
  const argument = evaluate(site.argument, file);
  const base = { range: site.range, form: site.form, argument };
  if (argument.kind === 'attrs') {
    const supplied = /\bcallPackage\b/.test(site.form) ? CALL_PACKAGE_SUPPLIES : new Set<string>();
    const { args, diagnostics } = checkArguments(argument.attrs, site.range, argument.range, supplied);
    return { ...base, args, diagnostics };
  }
  if (argument.kind === 'dynamic') {
    const message = `The arguments of this make-disk-image call are not known statically (${argument.why}); nixdisk build evaluates them with Nix`;
    return { ...base, diagnostics: [{ severity: 'info', code: 'dynamic-argument', message, range: argument.range }] };
  }
  const message = `make-disk-image takes an attribute set of arguments, not ${describeKind(argument)}`;
  return { ...base, diagnostics: [{ severity: 'error', code: 'wrong-type', message, range: argument.range }] };
}

function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column;
}

/**
 * Parse → syntax errors → call sites → partial evaluation → defaults → rules. Never
 * throws: an unexpected failure becomes an `internal-error` diagnostic at the call
 * site (or the file start) it happened in.
 */
export function analyzeFile(file: string, text: string, options: AnalyzeOptions = {}): FileAnalysis {
  let sites: CallSiteNode[];
  let syntax: Diagnostic[];
  try {
    const tree = parseNix(text);
    sites = findCallSites(tree);
    syntax = sites.length > 0 || options.alwaysReportSyntaxErrors ? syntaxErrors(tree).map((e) => ({ severity: 'error' as const, code: 'syntax-error', message: e.message, range: e.range })) : [];
  } catch (error) {
    return { callSites: [], diagnostics: [internalError(error, NO_RANGE)] };
  }
  const callSites = sites.map((site): AnalyzedCallSite => {
    try {
      return analyzeCallSite(site, file);
    } catch (error) {
      const argument: Value = { kind: 'dynamic', why: 'analysis failed', range: site.range };
      return { range: site.range, form: site.form, argument, diagnostics: [internalError(error, site.range)] };
    }
  });
  const diagnostics = [...syntax, ...callSites.flatMap((site) => site.diagnostics)].sort(byPosition);
  return { callSites, diagnostics };
}

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

  const diskSize = get('diskSize');
  const fixedMiB =
    diskSize?.kind === 'int' && diskSize.value > 0 ? diskSize.value : diskSize?.kind === 'string' && /^\d+$/.test(diskSize.value) && Number(diskSize.value) > 0 ? Number(diskSize.value) : undefined;
  const totalSectors = (fixedMiB ?? PLACEHOLDER_DISK_MIB) * SECTORS_PER_MIB;

  const rootGPUID = get('rootGPUID');
  const guidKnown = rootGPUID?.kind === 'string' && /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(rootGPUID.value);
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
