/**
 * The data nixlib/serialize-args.nix prints for one make-disk-image call: the
 * arguments exactly as the user's file passed them (no defaults applied), with
 * derivations, paths, strings with context and functions turned into tagged objects.
 */

export interface SerializedDerivation {
  $drv: string;
  $out: string;
  $output: string;
  /**
   * Its passthru and `//`-added attributes (pkgs.OVMF.fd's `firmware`, `variables`), one
   * level deep: lists, sets and derivations among them are only named, as
   * {@link SerializedDynamic}. Only on arguments, not inside `config`; absent when none.
   */
  $attrs?: { [name: string]: SerializedValue };
}

/** A Nix path value; nixdisk reads it from where it is, it is not copied to the store. */
export interface SerializedPath {
  $path: string;
}

/** A string that refers to store paths (e.g. `"${pkgs.hello}/bin/hello"`). */
export interface SerializedString {
  $string: string;
  /**
   * What the string depends on, as `nix-store --realise` takes it: `/nix/store/…drv!out`
   * for a derivation output, a bare `.drv` for all its outputs, or a plain store path.
   */
  $context: string[];
}

export interface SerializedFunction {
  $function: true;
}

/** A value nixdisk leaves alone, and why. */
export interface SerializedDynamic {
  $dynamic: string;
}

/** Nesting deeper than nixlib allows: only a set that contains itself gets here. */
export interface SerializedTruncated {
  $truncated: true;
}

export type SerializedValue =
  | null
  | boolean
  | number
  | string
  | SerializedValue[]
  | SerializedDerivation
  | SerializedPath
  | SerializedString
  | SerializedFunction
  | SerializedTruncated
  | SerializedDynamic
  | { [name: string]: SerializedValue };

/**
 * The NixOS options nixdisk reads from `config`; each is null when the config lacks
 * it (a store-only image passes `config = { }`) or it fails to evaluate.
 */
export const CONFIG_FIELDS = [
  'toplevel',
  'nixosInstall',
  'nixosVersion',
  'nixosVersionSuffix',
  'grubEnable',
  'grubDevices',
  'grubEfiSupport',
  'systemdBootEnable',
  'limineEnable',
  'efiCanTouchEfiVariables',
  'efiSysMountPoint',
  'bootLoaderId',
  'installBootLoaderScript',
  'systemdPackage',
  'systemdBootEditor',
  'systemdBootConsoleMode',
  'systemdBootXbootldrMountPoint',
  'systemdBootSortKey',
  'systemdBootExtraFiles',
  'systemdBootExtraEntries',
  'systemdBootExtraEfiDrivers',
  'systemdBootExtraInstallCommands',
  'loaderTimeout',
  'distroName',
  // Full images: the accounts that own `contents` (src/image/system/users.ts).
  'users',
  'groups',
  'sysusersEnable',
  'userbornEnable',
] as const;
export type ConfigField = (typeof CONFIG_FIELDS)[number];
export type SerializedConfig = Record<ConfigField, SerializedValue>;

/**
 * A misspelt argument is described without evaluating inside it, since it may hold
 * anything (all of nixpkgs, say).
 */
export type ShallowValue =
  | null
  | boolean
  | number
  | string
  | SerializedPath
  | SerializedString
  | SerializedFunction
  | { $list: number }
  | { $derivation: string }
  | { $attrs: string[] };

export interface SerializedCall {
  /** Known make-disk-image arguments except `pkgs` and `lib`; `config` is cut down to {@link SerializedConfig}. */
  arguments: { [name: string]: SerializedValue } & { config?: SerializedConfig };
  /** Arguments make-disk-image does not take (nixpkgs would refuse them). */
  unknownArguments: { [name: string]: ShallowValue };
  /**
   * The channel make-disk-image copies (copyChannel, full images): its derivation, or
   * what `pkgs`/`lib` lacked to build it; null or absent when no channel is wanted.
   */
  channel?: SerializedDerivation | { $missing: string[] } | null;
  /** `OVMF.variables` when touchEFIVars needs efiVariables' default; null when it has none. */
  defaultEfiVariables?: SerializedValue;
}

function hasStringField(value: SerializedValue, field: string): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as Record<string, unknown>)[field] === 'string';
}

export function isSerializedDerivation(value: SerializedValue): value is SerializedDerivation {
  return hasStringField(value, '$drv');
}

export function isSerializedPath(value: SerializedValue): value is SerializedPath {
  return hasStringField(value, '$path');
}

export function isSerializedString(value: SerializedValue): value is SerializedString {
  return hasStringField(value, '$string');
}

/**
 * What `nix-store --realise` must build or check before the values can be read from
 * the store: `drv!output` for derivations, and each path of a string's context
 * (already in that form), passthru strings such as OVMF's `variables` included.
 * Sorted and without duplicates.
 */
export function installablesOf(value: SerializedValue): string[] {
  const found = new Set<string>();
  const visit = (v: SerializedValue): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (isSerializedDerivation(v)) {
      found.add(`${v.$drv}!${v.$output}`);
      Object.values(v.$attrs ?? {}).forEach(visit);
    } else if (isSerializedString(v)) {
      v.$context.forEach((p) => found.add(p));
    } else {
      Object.values(v).forEach(visit);
    }
  };
  visit(value);
  return [...found].sort();
}
