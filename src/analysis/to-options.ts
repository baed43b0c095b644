import { PARTITION_TABLE_TYPES, type ContentsEntry, type ImageOptions, type PartitionTableType } from '../options.js';
import { argumentSpec, type ResolvedArguments } from './schema.js';
import { describeKind } from './rules/types.js';
import { interpolatedText, type Value } from './value.js';

/** An argument that cannot become an ImageOptions field; names the argument and says why. */
export class OptionError extends Error {
  constructor(
    readonly argument: string,
    detail: string,
  ) {
    super(`make-disk-image argument ${argument}: ${detail}`);
    this.name = 'OptionError';
  }
}

function value(args: ResolvedArguments, name: string): Value {
  const resolved = args.get(name);
  if (!resolved) throw new OptionError(name, 'is missing');
  if (resolved.value.kind === 'dynamic') throw new OptionError(name, `is not known (${resolved.value.why}); evaluate the file with Nix (nixdisk build) to get it`);
  return resolved.value;
}

function wrong(name: string, got: Value): OptionError {
  return new OptionError(name, `must be ${argumentSpec(name)?.typeText ?? 'another type'}, not ${describeKind(got)}`);
}

function string(args: ResolvedArguments, name: string): string {
  const v = value(args, name);
  if (v.kind === 'string' || v.kind === 'path') return v.value;
  throw wrong(name, v);
}

function bool(args: ResolvedArguments, name: string): boolean {
  const v = value(args, name);
  if (v.kind === 'bool') return v.value;
  throw wrong(name, v);
}

function nullableString(args: ResolvedArguments, name: string): string | null {
  const v = value(args, name);
  return v.kind === 'null' ? null : string(args, name);
}

/** A file argument nixpkgs interpolates: a path, a string, or a derivation (its outPath). */
function nullableFile(args: ResolvedArguments, name: string): string | null {
  const v = value(args, name);
  if (v.kind === 'null') return null;
  const text = interpolatedText(v);
  if (text !== undefined) return text;
  throw wrong(name, v);
}

function diskSize(args: ResolvedArguments): 'auto' | number {
  const v = value(args, 'diskSize');
  if (v.kind === 'int' && v.value > 0) return v.value;
  if (v.kind === 'string' && v.value === 'auto') return 'auto';
  if (v.kind === 'string' && /^\d+$/.test(v.value) && Number(v.value) > 0) return Number(v.value);
  throw new OptionError('diskSize', `must be "auto" or a positive number of MiB, not ${describeKind(v)}`);
}

/** An integer, or the string of digits nixpkgs interpolates just the same. */
function memSize(args: ResolvedArguments): number {
  const v = value(args, 'memSize');
  if (v.kind === 'int') return v.value;
  if (v.kind === 'string' && /^\d+$/.test(v.value)) return Number(v.value);
  throw wrong('memSize', v);
}

function partitionTableType(args: ResolvedArguments): PartitionTableType {
  const text = string(args, 'partitionTableType');
  if ((PARTITION_TABLE_TYPES as readonly string[]).includes(text)) return text as PartitionTableType;
  throw new OptionError('partitionTableType', `${JSON.stringify(text)} is not one of ${PARTITION_TABLE_TYPES.join(', ')}`);
}

function contents(args: ResolvedArguments): ContentsEntry[] {
  const v = value(args, 'contents');
  if (v.kind !== 'list') throw wrong('contents', v);
  return v.items.map((item, index) => {
    const where = `contents entry ${index + 1}`;
    if (item.kind !== 'attrs') throw new OptionError('contents', `${where} must be an attribute set, not ${describeKind(item)}`);
    const field = (key: string, required: boolean): string | undefined => {
      const attr = item.attrs.get(key)?.value;
      if (attr === undefined || attr.kind === 'null') {
        if (required) throw new OptionError('contents', `${where} has no ${key}`);
        return undefined;
      }
      const text = interpolatedText(attr);
      if (text !== undefined) return text;
      if (attr.kind === 'dynamic') throw new OptionError('contents', `${where}: ${key} is not known (${attr.why})`);
      throw new OptionError('contents', `${where}: ${key} must be a string, not ${describeKind(attr)}`);
    };
    const entry: ContentsEntry = { source: field('source', true)!, target: field('target', true)! };
    for (const key of ['mode', 'user', 'group'] as const) {
      const text = field(key, false);
      if (text !== undefined) entry[key] = text;
    }
    return entry;
  });
}

function additionalPaths(args: ResolvedArguments): string[] {
  const v = value(args, 'additionalPaths');
  if (v.kind !== 'list') throw wrong('additionalPaths', v);
  return v.items.map((item, index) => {
    const text = interpolatedText(item);
    if (text !== undefined) return text;
    if (item.kind === 'dynamic') throw new OptionError('additionalPaths', `item ${index + 1} is not known (${item.why})`);
    throw new OptionError('additionalPaths', `item ${index + 1} must be a store path, not ${describeKind(item)}`);
  });
}

/**
 * The typed options of a call whose every needed value is known (after Nix evaluated
 * it, or a fully literal call). Throws an OptionError naming the first argument that
 * is dynamic or of the wrong type. The VM-only firmware path is not needed and maps
 * to null when unknown; so does efiVariables unless touchEFIVars reads it.
 */
export function toImageOptions(args: ResolvedArguments): ImageOptions {
  const touchEFIVars = bool(args, 'touchEFIVars');
  const optionalPath = (name: string, needed: boolean): string | null =>
    !needed && args.get(name)?.value.kind === 'dynamic' ? null : nullableFile(args, name);
  return {
    name: string(args, 'name'),
    baseName: string(args, 'baseName'),
    format: string(args, 'format'),
    diskSize: diskSize(args),
    additionalSpace: string(args, 'additionalSpace'),
    bootSize: string(args, 'bootSize'),
    partitionTableType: partitionTableType(args),
    fsType: string(args, 'fsType'),
    label: string(args, 'label'),
    onlyNixStore: bool(args, 'onlyNixStore'),
    installBootLoader: bool(args, 'installBootLoader'),
    touchEFIVars,
    deterministic: bool(args, 'deterministic'),
    rootGPUID: string(args, 'rootGPUID'),
    rootFSUID: nullableString(args, 'rootFSUID'),
    copyChannel: bool(args, 'copyChannel'),
    contents: contents(args),
    additionalPaths: additionalPaths(args),
    postVM: string(args, 'postVM'),
    memSize: memSize(args),
    configFile: nullableFile(args, 'configFile'),
    efiFirmware: optionalPath('efiFirmware', false),
    efiVariables: optionalPath('efiVariables', touchEFIVars),
  };
}
