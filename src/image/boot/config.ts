/**
 * The boot loader settings of a serialized NixOS `config` (nixlib/serialize-args.nix,
 * the "boot loaders" block), read where NixOS exposes them (FACTS §7.5). Pure.
 */

export class BootConfigError extends Error {
  override name = 'BootConfigError';
}

/** The loader fields serialize-args.nix writes; each null when the config lacks the option. */
export interface LoaderConfig {
  /** `config.system.boot.loader.id`: `grub`, `systemd-boot`, `generic-extlinux-compatible`, … */
  loaderId: string | null;
  grubEnable: boolean;
  systemdBootEnable: boolean;
  limineEnable: boolean;
  /** `config.system.build.installBootLoader` as a store path (a script for GRUB). */
  installBootLoader: string | null;
  /** `config.systemd.package` as a store path. */
  systemdPackage: string | null;
  efiSysMountPoint: string;
  canTouchEfiVariables: boolean;
  /** `boot.loader.timeout`; null is "wait for a choice" (systemd-boot's `menu-force`). */
  timeout: number | null;
  systemdBoot: {
    editor: boolean;
    consoleMode: string;
    xbootldrMountPoint: string | null;
    sortKey: string;
    /** `extraFiles`: path under $BOOT → source file (a store path, or a host path given as a Nix path). */
    extraFiles: Record<string, string>;
    /** `extraEntries`: file name in $BOOT/loader/entries → its text. */
    extraEntries: Record<string, string>;
    /** `extraEfiDrivers`: path under the ESP → source file. */
    extraEfiDrivers: Record<string, string>;
    /** `extraInstallCommands`: shell the installer runs after it, on the installed system. */
    extraInstallCommands: string;
  };
  distroName: string;
}

/** The store path of a serialized derivation or string with context, or a plain string path; null otherwise. */
function serializedStorePath(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return null;
  const record = value as Record<string, unknown>;
  if (typeof record['$out'] === 'string') return record['$out'];
  if (typeof record['$string'] === 'string') return record['$string'];
  if (typeof record['$path'] === 'string') return record['$path'];
  return null;
}

/**
 * An attribute set of files (`attrsOf path`: each a store or host path) or of texts
 * (`attrsOf lines`, a text with context reading the same way).
 */
function attrsOfPathsOrTexts(value: unknown, option: string, what: 'a file (a path or a package)' | 'a text'): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new BootConfigError(`${option} is not an attribute set`);
  const read: Record<string, string> = {};
  for (const [name, item] of Object.entries(value)) {
    const text = serializedStorePath(item);
    if (text === null) throw new BootConfigError(`${option}."${name}" is not ${what}`);
    read[name] = text;
  }
  return read;
}

function bool(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

export function readLoaderConfig(config: Record<string, unknown>): LoaderConfig {
  const timeout = config['loaderTimeout'];
  const xbootldr = config['systemdBootXbootldrMountPoint'];
  return {
    loaderId: typeof config['bootLoaderId'] === 'string' ? config['bootLoaderId'] : null,
    grubEnable: bool(config['grubEnable'], false),
    systemdBootEnable: bool(config['systemdBootEnable'], false),
    limineEnable: bool(config['limineEnable'], false),
    installBootLoader: serializedStorePath(config['installBootLoaderScript']),
    systemdPackage: serializedStorePath(config['systemdPackage']),
    efiSysMountPoint: text(config['efiSysMountPoint'], '/boot'),
    canTouchEfiVariables: bool(config['efiCanTouchEfiVariables'], false),
    timeout: typeof timeout === 'number' ? timeout : null,
    systemdBoot: {
      editor: bool(config['systemdBootEditor'], true),
      consoleMode: text(config['systemdBootConsoleMode'], 'keep'),
      xbootldrMountPoint: typeof xbootldr === 'string' ? xbootldr : null,
      sortKey: text(config['systemdBootSortKey'], 'nixos'),
      extraFiles: attrsOfPathsOrTexts(config['systemdBootExtraFiles'], 'boot.loader.systemd-boot.extraFiles', 'a file (a path or a package)'),
      extraEntries: attrsOfPathsOrTexts(config['systemdBootExtraEntries'], 'boot.loader.systemd-boot.extraEntries', 'a text'),
      extraEfiDrivers: attrsOfPathsOrTexts(config['systemdBootExtraEfiDrivers'], 'boot.loader.systemd-boot.extraEfiDrivers', 'a file (a path or a package)'),
      extraInstallCommands: text(config['systemdBootExtraInstallCommands'], ''),
    },
    distroName: text(config['distroName'], 'NixOS'),
  };
}

/** Which loader the configuration enables; an unsupported one is a clear error naming it. */
export function chosenLoader(loader: LoaderConfig): 'grub' | 'systemd-boot' {
  const enabled = [
    ...(loader.grubEnable ? ['grub'] : []),
    ...(loader.systemdBootEnable ? ['systemd-boot'] : []),
  ];
  const id = loader.loaderId ?? (enabled.length === 1 ? enabled[0]! : null);
  if (id === 'grub' || id === 'systemd-boot') return id;
  if (id === null) {
    const other = loader.limineEnable ? ' (boot.loader.limine is enabled)' : '';
    throw new BootConfigError(
      `the configuration enables no boot loader nixdisk can install${other}: nixdisk installs GRUB (boot.loader.grub.enable) and systemd-boot (boot.loader.systemd-boot.enable); set installBootLoader = false to build without one`,
    );
  }
  throw new BootConfigError(
    `the configuration's boot loader is "${id}" (config.system.boot.loader.id), which nixdisk cannot install: it installs "grub" and "systemd-boot"; set installBootLoader = false to build without one`,
  );
}
