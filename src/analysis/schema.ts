import type { SourceRange } from '../syntax/range.js';
import type { Attr, Value, ValueKind } from './value.js';

/**
 * Every argument of nixpkgs' make-disk-image.nix (FACTS §1), with its type, default,
 * documentation and version history. The defaults follow current nixpkgs (late 2024
 * on); the rules and the plan read arguments only through `applyDefaults`, so the
 * static checker and the Nix-evaluated build path see the same values.
 */

export interface ArgumentSpec {
  name: string;
  /** Value kinds nixpkgs accepts; a known value of another kind is an error. */
  kinds: readonly ValueKind[];
  /** How the type reads in messages, e.g. `"auto" or an integer (MiB)`. */
  typeText: string;
  required: boolean;
  /** The default as a function of the other (already resolved) arguments. */
  defaultValue?: (resolved: ReadonlyMap<string, ResolvedArgument>, at: SourceRange) => Value;
  /** Arguments the default reads; they are resolved first. */
  defaultDependsOn?: readonly string[];
  doc: string;
  /** When the argument appeared or changed, for hover text and version diagnostics. */
  versions?: string;
  /** Only current nixpkgs (late 2024 on) knows this argument; older versions reject the call. */
  newerOnly?: boolean;
  /** Only nixpkgs' build VM reads it; nixdisk has no VM, so it changes nothing here. */
  vmOnly?: boolean;
  /** nixpkgs only interpolates it (`cp ${…}`), so a derivation or any set with an outPath works too. */
  interpolated?: boolean;
}

export interface ResolvedArgument {
  value: Value;
  /** True when the call does not set the argument and the value is nixpkgs' default. */
  isDefault: boolean;
  /** Range of the key in the call; absent for defaults. */
  nameRange?: SourceRange;
}

export type ResolvedArguments = ReadonlyMap<string, ResolvedArgument>;

const PATH_LIKE: readonly ValueKind[] = ['path', 'string'];

const str = (value: string, range: SourceRange): Value => ({ kind: 'string', value, range });
const int = (value: number, range: SourceRange): Value => ({ kind: 'int', value, range });
const bool = (value: boolean, range: SourceRange): Value => ({ kind: 'bool', value, range });
const list = (range: SourceRange): Value => ({ kind: 'list', items: [], range });
const nul = (range: SourceRange): Value => ({ kind: 'null', range });
const dyn = (why: string, range: SourceRange): Value => ({ kind: 'dynamic', why, range });

/**
 * efiFirmware and efiVariables default to files the OVMF package offers in its passthru
 * (pkgs.OVMF.fd's `firmware` and `variables`): known once Nix evaluated OVMF.
 */
function fromOVMF(attribute: 'firmware' | 'variables') {
  return (resolved: ReadonlyMap<string, ResolvedArgument>, at: SourceRange): Value => {
    const ovmf = resolved.get('OVMF')?.value;
    if (ovmf?.kind !== 'attrs') return dyn(`defaults to OVMF.${attribute}, a store path known only to Nix`, at);
    const file = ovmf.attrs.get(attribute)?.value;
    return file ? { ...file, range: at } : dyn(`defaults to OVMF.${attribute}, and OVMF has no attribute "${attribute}"`, at);
  };
}

export const DEFAULT_ROOT_GPUID = 'F222513B-DED1-49FA-B591-20CE86A2FE7F';

/** In nixpkgs' order of the function header, so `plan` lists them as the file does. */
export const ARGUMENTS: readonly ArgumentSpec[] = [
  {
    name: 'pkgs',
    kinds: ['attrs'],
    typeText: 'the nixpkgs package set',
    required: true,
    doc: 'The package set the image tools come from.',
  },
  {
    name: 'lib',
    kinds: ['attrs'],
    typeText: 'nixpkgs lib',
    required: true,
    doc: "nixpkgs' library functions.",
  },
  {
    name: 'config',
    kinds: ['attrs'],
    typeText: 'a NixOS configuration',
    required: true,
    doc: 'The evaluated NixOS configuration whose system closure goes into the image.',
  },
  {
    name: 'diskSize',
    kinds: ['string', 'int'],
    typeText: '"auto" or an integer (MiB)',
    required: false,
    defaultValue: (_, at) => str('auto', at),
    doc: 'Size of the whole image in MiB, or "auto" to size it from the contents plus additionalSpace.',
    versions: 'Required (no default) before 2020; "auto" arrived with nixpkgs PR #89331.',
  },
  {
    name: 'additionalSpace',
    kinds: ['string'],
    typeText: 'a size string such as "512M"',
    required: false,
    defaultValue: (_, at) => str('512M', at),
    doc: 'Free space added on top of the contents when diskSize is "auto"; read like `numfmt --from=iec` (M = MiB).',
  },
  {
    name: 'bootSize',
    kinds: ['string'],
    typeText: 'a size string such as "256M"',
    required: false,
    defaultValue: (_, at) => str('256M', at),
    doc: 'Where the boot partition (ESP, or BOOT for legacy+boot/efixbootldr) ends, not its size. Current nixpkgs rounds it to the next whole MiB plus one: "256M" ends at 257 MiB.',
    versions: 'Before late 2024 nixpkgs handed it to parted as an SI size ("256M" ended at 244 MiB).',
  },
  {
    name: 'contents',
    kinds: ['list'],
    typeText: 'a list of { source, target, mode?, user?, group? }',
    required: false,
    defaultValue: (_, at) => list(at),
    doc: 'Extra files placed into the root filesystem: each `source` is copied to `target`, optionally with an octal `mode` and an owner `user`/`group` (both or neither).',
  },
  {
    name: 'partitionTableType',
    kinds: ['string'],
    typeText: 'one of "legacy", "legacy+boot", "legacy+gpt", "efi", "efixbootldr", "hybrid", "none"',
    required: false,
    defaultValue: (_, at) => str('legacy', at),
    doc: 'The partition layout: MBR (legacy, legacy+boot), GPT for BIOS (legacy+gpt), GPT with an ESP (efi, efixbootldr, hybrid), or a bare filesystem (none).',
    versions: '"legacy+boot" exists only in nixpkgs from late 2024 on.',
  },
  {
    name: 'installBootLoader',
    kinds: ['bool'],
    typeText: 'a boolean',
    required: false,
    defaultValue: (_, at) => bool(true, at),
    doc: 'Install the boot loader of the configuration (switch-to-configuration boot) into the image.',
  },
  {
    name: 'touchEFIVars',
    kinds: ['bool'],
    typeText: 'a boolean',
    required: false,
    defaultValue: (_, at) => bool(false, at),
    doc: 'Also write $out/efi-vars.fd, a copy of efiVariables that boot loader installation may update.',
  },
  {
    name: 'OVMF',
    kinds: ['attrs'],
    typeText: 'a derivation',
    required: false,
    defaultValue: (_, at) => dyn('defaults to pkgs.OVMF.fd, known only to Nix', at),
    doc: 'The UEFI firmware package efiFirmware and efiVariables come from.',
  },
  {
    name: 'efiFirmware',
    kinds: PATH_LIKE,
    typeText: 'a path',
    required: false,
    defaultDependsOn: ['OVMF'],
    defaultValue: fromOVMF('firmware'),
    interpolated: true,
    doc: 'The UEFI firmware image the build VM boots with (nixdisk runs no VM).',
    vmOnly: true,
  },
  {
    name: 'efiVariables',
    kinds: PATH_LIKE,
    typeText: 'a path',
    required: false,
    defaultDependsOn: ['OVMF'],
    defaultValue: fromOVMF('variables'),
    interpolated: true,
    doc: 'The UEFI variable store that $out/efi-vars.fd starts from when touchEFIVars is set.',
  },
  {
    name: 'fsType',
    kinds: ['string'],
    typeText: 'a filesystem type such as "ext4"',
    required: false,
    defaultValue: (_, at) => str('ext4', at),
    doc: 'The root filesystem type. nixpkgs allows only ext4 with a partition table; nixdisk also writes btrfs, xfs, f2fs, erofs, squashfs and vfat.',
  },
  {
    name: 'label',
    kinds: ['string'],
    typeText: 'a string',
    required: false,
    defaultDependsOn: ['onlyNixStore'],
    defaultValue: (resolved, at) => {
      const onlyNixStore = resolved.get('onlyNixStore')?.value;
      if (onlyNixStore?.kind === 'bool') return str(onlyNixStore.value ? 'nix-store' : 'nixos', at);
      return dyn('defaults to "nix-store" or "nixos" depending on onlyNixStore, which is not known', at);
    },
    doc: 'The root filesystem label; defaults to "nix-store" for store-only images and "nixos" otherwise.',
    versions: 'Hard-coded "nixos" before 2018; the "nix-store" default came in 2022.',
  },
  {
    name: 'configFile',
    kinds: ['path', 'string', 'null'],
    typeText: 'a path or null',
    required: false,
    defaultValue: (_, at) => nul(at),
    interpolated: true,
    doc: 'A file copied to /etc/nixos/configuration.nix in the image.',
  },
  {
    name: 'postVM',
    kinds: ['string'],
    typeText: 'a shell script string',
    required: false,
    defaultValue: (_, at) => str('', at),
    doc: 'Shell commands run after the image is written, with $out and $diskImage set.',
  },
  {
    name: 'memSize',
    // nixpkgs only interpolates it into qemu's options, so a string of digits works as well.
    kinds: ['int', 'string'],
    typeText: 'a number of MiB',
    required: false,
    defaultValue: (_, at) => int(1024, at),
    doc: 'Memory of the build VM in MiB (nixdisk runs no VM).',
    vmOnly: true,
  },
  {
    name: 'onlyNixStore',
    kinds: ['bool'],
    typeText: 'a boolean',
    required: false,
    defaultValue: (_, at) => bool(false, at),
    doc: 'Build an image holding only the Nix store paths, at the filesystem root; needs contents = [], configFile = null and installBootLoader = false.',
  },
  {
    name: 'name',
    kinds: ['string'],
    typeText: 'a string',
    required: false,
    defaultValue: (_, at) => str('nixos-disk-image', at),
    doc: 'The derivation name.',
  },
  {
    name: 'format',
    kinds: ['string'],
    typeText: 'one of "raw", "qcow2", "qcow2-compressed", "vdi", "vpc"',
    required: false,
    defaultValue: (_, at) => str('raw', at),
    doc: 'The image file format; other values go to `qemu-img convert -O` unchanged and become the file extension.',
  },
  {
    name: 'baseName',
    kinds: ['string'],
    typeText: 'a string',
    required: false,
    defaultValue: (_, at) => str('nixos', at),
    doc: 'The image file name without extension: <baseName>.img, .qcow2, …',
    versions: 'Added in nixpkgs PR #359326 (Nov 2024); before it the file was always nixos.<ext>.',
    newerOnly: true,
  },
  {
    name: 'deterministic',
    kinds: ['bool'],
    typeText: 'a boolean',
    required: false,
    defaultValue: (_, at) => bool(true, at),
    doc: 'Pin the GPT disk and partition GUIDs and the ext4 UUID and check time.',
    versions: 'Added in 2022 (nixpkgs PR #191665).',
  },
  {
    name: 'rootGPUID',
    kinds: ['string'],
    typeText: 'a GUID string',
    required: false,
    defaultValue: (_, at) => str(DEFAULT_ROOT_GPUID, at),
    doc: 'The unique GUID of the root partition on GPT layouts (efi, efixbootldr, hybrid).',
  },
  {
    name: 'rootFSUID',
    kinds: ['string', 'null'],
    typeText: 'a UUID string or null',
    required: false,
    defaultDependsOn: ['fsType', 'rootGPUID'],
    defaultValue: (resolved, at) => {
      const fsType = resolved.get('fsType')?.value;
      const rootGPUID = resolved.get('rootGPUID')?.value;
      if (fsType?.kind !== 'string') return dyn('defaults to rootGPUID for ext4, null otherwise; fsType is not known', at);
      if (fsType.value !== 'ext4') return nul(at);
      return rootGPUID ? { ...rootGPUID, range: at } : dyn('defaults to rootGPUID', at);
    },
    doc: 'The root filesystem UUID; defaults to rootGPUID for ext4 and to null (random) otherwise.',
  },
  {
    name: 'copyChannel',
    kinds: ['bool'],
    typeText: 'a boolean',
    required: false,
    defaultValue: (_, at) => bool(true, at),
    doc: 'Put a nixos channel built from the current nixpkgs into the image.',
  },
  {
    name: 'additionalPaths',
    kinds: ['list'],
    typeText: 'a list of store paths',
    required: false,
    defaultValue: (_, at) => list(at),
    doc: "Extra store paths copied into the image's store along with their closures.",
  },
];

export const ARGUMENT_NAMES: readonly string[] = ARGUMENTS.map((spec) => spec.name);

const SPECS = new Map(ARGUMENTS.map((spec) => [spec.name, spec]));

export function argumentSpec(name: string): ArgumentSpec | undefined {
  return SPECS.get(name);
}

/**
 * The value of every known argument after nixpkgs' defaults, in header order. Unknown
 * names are left out (a rule reports them); missing required ones are absent. Defaults
 * that read other arguments are computed after all the others. Default values carry
 * `at` as their range, normally the call's range, so diagnostics about them point at
 * the call.
 */
export function applyDefaults(args: ReadonlyMap<string, Attr>, at: SourceRange): Map<string, ResolvedArgument> {
  const resolved = new Map<string, ResolvedArgument>();
  for (const spec of ARGUMENTS) {
    const given = args.get(spec.name);
    if (given) resolved.set(spec.name, { value: given.value, isDefault: false, nameRange: given.nameRange });
  }
  const missing = ARGUMENTS.filter((spec) => !resolved.has(spec.name) && spec.defaultValue);
  for (const pass of [false, true]) {
    for (const spec of missing) {
      if (Boolean(spec.defaultDependsOn) !== pass) continue;
      resolved.set(spec.name, { value: spec.defaultValue!(resolved, at), isDefault: true });
    }
  }
  return new Map(ARGUMENTS.filter((spec) => resolved.has(spec.name)).map((spec) => [spec.name, resolved.get(spec.name)!]));
}

/** diskSize as a whole number of MiB (an integer, or a string of digits), when it is fixed and known. */
export function fixedDiskSizeMiB(value: Value | undefined): number | undefined {
  if (value?.kind === 'int') return value.value > 0 ? value.value : undefined;
  if (value?.kind === 'string' && /^\d+$/.test(value.value) && Number(value.value) > 0) return Number(value.value);
  return undefined;
}
