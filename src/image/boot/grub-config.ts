/**
 * GRUB's settings as NixOS hands them to install-grub.pl (the grub-config.xml named in
 * `system.build.installBootLoader`, FACTS §7.5), and the grub.cfg install-grub.pl
 * writes for a system with one generation (FACTS §7.3). Pure.
 */
import path from 'node:path';
import type { ImageMount } from './bootloader.js';
import { BootConfigError } from './config.js';
import { parseNixXml, type NixXmlValue } from './nix-xml.js';
import { mountOf } from '../system/mounts.js';

export interface GrubSettings {
  /** BIOS GRUB package, or '' (EFI only, or `nodev`). */
  grub: string;
  grubEfi: string;
  grubTarget: string;
  grubTargetEfi: string;
  fullName: string;
  fullVersion: string;
  bootPath: string;
  storePath: string;
  efiSysMountPoint: string;
  bootloaderId: string;
  devices: string[];
  canTouchEfiVariables: boolean;
  efiInstallAsRemovable: boolean;
  copyKernels: boolean;
  fsIdentifier: 'uuid' | 'label' | 'provided';
  timeout: number;
  default: string;
  extraConfig: string;
  extraEntries: string;
  extraEntriesBeforeNixOS: boolean;
  extraPerEntryConfig: string;
  entryOptions: string;
  subEntryOptions: string;
  font: string;
  splashImage: string;
  splashMode: string;
  backgroundColor: string;
  gfxmodeEfi: string;
  gfxmodeBios: string;
  gfxpayloadEfi: string;
  gfxpayloadBios: string;
  extraGrubInstallArgs: string[];
  /** `users`: GRUB's superusers, in attribute-name order, each with the line install-grub.pl writes for its password. */
  users: GrubUser[];
  /** `theme`: a theme folder (a store path) copied to `<bootPath>/theme`, or ''. */
  theme: string;
}

export interface GrubUser {
  name: string;
  /** `password_pbkdf2 <name> <hash>` for a `grub.pbkdf2.` hash, `password <name> <password>` for a plain one. */
  line: string;
}

/**
 * `boot.loader.grub.users` as install-grub.pl turns it into password lines. The
 * `…File` forms name a file on the machine that installs the loader, which an image
 * build is not (nixpkgs' build VM has no such file either), so they are refused.
 */
function grubUsers(users: NixXmlValue | undefined, where: string): GrubUser[] {
  if (users === undefined || users === null) return [];
  if (typeof users !== 'object' || Array.isArray(users) || '$derivation' in users) throw new BootConfigError(`${where}: "users" is not an attribute set`);
  return Object.entries(users).map(([name, user]) => {
    const field = (key: string): string => {
      const value = typeof user === 'object' && user !== null && !Array.isArray(user) ? (user as Record<string, NixXmlValue>)[key] : undefined;
      return typeof value === 'string' ? value : '';
    };
    for (const key of ['hashedPasswordFile', 'passwordFile']) {
      if (field(key) !== '') {
        throw new BootConfigError(`${where}: boot.loader.grub.users.${name}.${key} names a file on the machine that installs GRUB, which an image build is not; use hashedPassword instead`);
      }
    }
    const hashed = field('hashedPassword');
    if (hashed !== '') {
      if (!hashed.startsWith('grub.pbkdf2.')) throw new BootConfigError(`${where}: the password hash of GRUB user "${name}" is not a grub.pbkdf2. hash (grub-mkpasswd-pbkdf2 makes one)`);
      return { name, line: `password_pbkdf2 ${name} ${hashed}` };
    }
    const password = field('password');
    if (password === '') throw new BootConfigError(`${where}: GRUB user "${name}" has no password`);
    return { name, line: `password ${name} ${password}` };
  });
}

/** The settings of a grub-config.xml; what nixdisk cannot do without running code is refused by name. */
export function parseGrubConfig(xml: string, where: string): GrubSettings {
  let root: NixXmlValue;
  try {
    root = parseNixXml(xml);
  } catch (error) {
    throw new BootConfigError(`${where} is not the XML builtins.toXML writes: ${(error as Error).message}`);
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root) || '$derivation' in root) {
    throw new BootConfigError(`${where} does not hold an attribute set`);
  }
  const attrs = root as Record<string, NixXmlValue>;
  const str = (name: string, fallback = ''): string => {
    const value = attrs[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new BootConfigError(`${where}: "${name}" is not a string`);
  };
  const list = (name: string): string[] => {
    const value = attrs[name];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new BootConfigError(`${where}: "${name}" is not a list of strings`);
    return value as string[];
  };
  if (str('extraPrepareConfig').trim() !== '') {
    throw new BootConfigError(`${where}: boot.loader.grub.extraPrepareConfig is a shell script that runs on the installed system; nixdisk does not run it`);
  }
  const fsIdentifier = str('fsIdentifier', 'uuid');
  if (fsIdentifier !== 'uuid' && fsIdentifier !== 'label' && fsIdentifier !== 'provided') {
    throw new BootConfigError(`${where}: fsIdentifier "${fsIdentifier}" is none of uuid, label, provided`);
  }
  const version = str('version', '2');
  if (version !== '2') throw new BootConfigError(`${where}: GRUB version ${version}; nixdisk installs GRUB 2 only`);
  return {
    grub: str('grub'),
    grubEfi: str('grubEfi'),
    grubTarget: str('grubTarget'),
    grubTargetEfi: str('grubTargetEfi'),
    fullName: str('fullName'),
    fullVersion: str('fullVersion'),
    bootPath: str('bootPath', '/boot'),
    storePath: str('storePath', '/nix/store'),
    efiSysMountPoint: str('efiSysMountPoint', '/boot'),
    bootloaderId: str('bootloaderId', 'NixOS-boot'),
    devices: list('devices'),
    canTouchEfiVariables: str('canTouchEfiVariables') === 'true',
    efiInstallAsRemovable: str('efiInstallAsRemovable') === 'true',
    copyKernels: str('copyKernels') === 'true',
    fsIdentifier,
    timeout: parseInt(str('timeout', '5'), 10),
    default: str('default', '0'),
    extraConfig: str('extraConfig'),
    extraEntries: str('extraEntries'),
    extraEntriesBeforeNixOS: str('extraEntriesBeforeNixOS') === 'true',
    extraPerEntryConfig: str('extraPerEntryConfig'),
    entryOptions: str('entryOptions', '--class nixos --unrestricted'),
    subEntryOptions: str('subEntryOptions', '--class nixos'),
    font: str('font'),
    splashImage: str('splashImage'),
    splashMode: str('splashMode', 'normal'),
    backgroundColor: str('backgroundColor'),
    gfxmodeEfi: str('gfxmodeEfi', 'auto'),
    gfxmodeBios: str('gfxmodeBios', '1024x768'),
    gfxpayloadEfi: str('gfxpayloadEfi', 'keep'),
    gfxpayloadBios: str('gfxpayloadBios', 'text'),
    extraGrubInstallArgs: list('extraGrubInstallArgs'),
    users: grubUsers(attrs['users'], where),
    theme: str('theme'),
  };
}

/** The grub-config.xml files an `install-grub.sh` names, one per `mirroredBoots` entry; pure. */
export function grubConfigFilesOf(script: string): string[] {
  return [...new Set(script.match(/\/[^\s'"]*-grub-config\.xml/g) ?? [])];
}

/** How GRUB reaches a folder: the `search` line setting `drive<N>` and the folder as `($drive<N>)/…` (install-grub.pl's GrubFs). */
export interface GrubLocation {
  search: string;
  path: string;
}

export function grubLocation(mounts: readonly ImageMount[], dir: string, fsIdentifier: GrubSettings['fsIdentifier'], driveId: number): GrubLocation {
  const mount = mountOf(mounts, dir);
  let relative = dir.slice(mount.mountPoint === '/' ? 0 : mount.mountPoint.length);
  if (!relative.startsWith('/')) relative = `/${relative}`;
  // `provided` names the device as fstab does; a by-uuid/by-label name is all it could be here, and
  // nixdisk does not know which one the configuration wrote, so GRUB searches nothing.
  if (fsIdentifier === 'provided') return { search: '', path: relative };
  const search = fsIdentifier === 'uuid' ? `--fs-uuid ${mount.uuid}` : `--label ${mount.label}`;
  return { search: `search --set=drive${driveId} ${search}`, path: `($drive${driveId})${relative}` };
}

/** What one menu entry boots: resolved store paths of kernel, initrd and init, and the parameters. */
export interface GrubBootFiles {
  kernel: string;
  initrd: string;
  init: string;
  kernelParams: readonly string[];
}

export interface GrubEntryInput extends GrubBootFiles {
  /**
   * The toplevel's specialisations, in the order install-grub.pl globs them (sorted by
   * name), each with its whole menu entry title (`NixOS - <configuration-name>`, or
   * `NixOS - (<name> - <date> - <version>)`).
   */
  specialisations: readonly ({ title: string } & GrubBootFiles)[];
  /** `nixos-version` of the toplevel, or null when it has none (then the profile submenu lists nothing). */
  nixosVersion: string | null;
  /** `%F` of the system-1-link's mtime. */
  linkDate: string;
  distroName: string;
}

export interface GrubCfg {
  text: string;
  /** Files install-grub.pl copies to /boot: installed path → source on the host (a folder for the theme). */
  copies: Map<string, string>;
}

const HEADER = '# Automatically generated.  DO NOT EDIT THIS FILE!\n';

/**
 * The grub.cfg of install-grub.pl for one generation, and the files it copies onto
 * bootPath. `themeFonts` are the `.pf2` files of the theme folder, relative to it, which
 * install-grub.pl loads in the order it finds them (nixdisk sorts them).
 */
export function grubCfg(settings: GrubSettings, mounts: readonly ImageMount[], entry: GrubEntryInput, themeFonts: readonly string[] = []): GrubCfg {
  const copies = new Map<string, string>();
  const copyKernels = settings.copyKernels || mountOf(mounts, settings.bootPath) !== mountOf(mounts, settings.storePath);
  let driveId = 1;
  const locate = (dir: string): GrubLocation => {
    const location = grubLocation(mounts, dir, settings.fsIdentifier, driveId);
    if (location.search !== '') driveId++;
    return location;
  };
  const boot = locate(settings.bootPath);
  const store = copyKernels ? null : locate(settings.storePath);
  const bootPrefix = boot.path === '/' ? '' : boot.path;
  const defaultEntry = settings.default === 'saved' ? '"${saved_entry}"' : settings.default;

  let conf = HEADER;
  for (const user of settings.users) conf += `\n${user.line}`;
  if (settings.users.length > 0) conf += `\nset superusers="${settings.users.map((user) => user.name).join(' ')}"\n`;
  if (store) conf += `\n            ${store.search}`;
  conf +=
    `\n        ${boot.search}\n        if [ -s $prefix/grubenv ]; then\n          load_env\n        fi\n\n` +
    `        # ‘grub-reboot’ sets a one-time saved entry, which we process here and\n        # then delete.\n` +
    `        if [ "\${next_entry}" ]; then\n          set default="\${next_entry}"\n          set next_entry=\n          save_env next_entry\n` +
    `          set timeout=1\n          set boot_once=true\n        else\n          set default=${defaultEntry}\n          set timeout=${settings.timeout}\n        fi\n\n` +
    `        function savedefault {\n            if [ -z "\${boot_once}"]; then\n            saved_entry="\${chosen}"\n            save_env saved_entry\n            fi\n        }\n\n` +
    `        # Setup the graphics stack for bios and efi systems\n        if [ "\${grub_platform}" = "efi" ]; then\n          insmod efi_gop\n          insmod efi_uga\n        else\n          insmod vbe\n        fi\n    `;
  if (settings.font) {
    copies.set(path.posix.join(settings.bootPath, 'converted-font.pf2'), settings.font);
    conf +=
      `\n            insmod font\n            if loadfont ${bootPrefix}/converted-font.pf2; then\n              insmod gfxterm\n` +
      `              if [ "\${grub_platform}" = "efi" ]; then\n                set gfxmode=${settings.gfxmodeEfi}\n                set gfxpayload=${settings.gfxpayloadEfi}\n` +
      `              else\n                set gfxmode=${settings.gfxmodeBios}\n                set gfxpayload=${settings.gfxpayloadBios}\n              fi\n` +
      `              terminal_output gfxterm\n            fi\n        `;
  }
  if (settings.splashImage) {
    const extension = path.posix.extname(settings.splashImage);
    const suffix = extension === '.jpg' ? '.jpeg' : extension;
    if (settings.backgroundColor) conf += `\n            background_color '${settings.backgroundColor}'\n            `;
    copies.set(path.posix.join(settings.bootPath, `background${suffix}`), settings.splashImage);
    conf +=
      `\n            insmod ${suffix.slice(1)}\n            if background_image --mode '${settings.splashMode}' ${bootPrefix}/background${suffix}; then\n` +
      `              set color_normal=white/black\n              set color_highlight=black/white\n            else\n` +
      `              set menu_color_normal=cyan/blue\n              set menu_color_highlight=white/blue\n            fi\n        `;
  }
  if (settings.theme) {
    copies.set(path.posix.join(settings.bootPath, 'theme'), settings.theme);
    conf += `\n            # Sets theme.\n            set theme=${bootPrefix}/theme/theme.txt\n            export theme\n            # Load theme fonts, if any\n        `;
    for (const font of themeFonts) conf += `\n                    loadfont ${bootPrefix}/theme/${font}\n                `;
  }
  conf += `${settings.extraConfig}\n\n`;

  const kernelsDirReference = (storeFile: string): string => {
    if (store) return store.path + storeFile.slice(settings.storePath.length);
    const name = storeFile.replace(/^\/nix\/store\//, '').replace(/\//g, '-');
    copies.set(path.posix.join(settings.bootPath, 'kernels', name), storeFile);
    return `${bootPrefix}/kernels/${name}`;
  };
  const menuEntry = (name: string, options: string, files: GrubBootFiles): string =>
    `menuentry "${name}" ${options} {\n` +
    (settings.default === 'saved' ? '  savedefault\n' : '') +
    `${boot.search}\n` +
    (store ? `${store.search}\n` : '') +
    (settings.extraPerEntryConfig ? `  ${settings.extraPerEntryConfig}\n` : '') +
    `  linux ${kernelsDirReference(files.kernel)} init=${files.init} ${files.kernelParams.join(' ')}\n` +
    `  initrd ${kernelsDirReference(files.initrd)}\n}\n\n`;

  if (settings.extraEntriesBeforeNixOS) conf += `${settings.extraEntries}\n`;
  conf += menuEntry(`${entry.distroName} - Default`, settings.entryOptions, entry);
  if (!settings.extraEntriesBeforeNixOS) conf += `${settings.extraEntries}\n`;
  // install-grub.pl passes no entry options (no --class, no --unrestricted) for specialisations.
  for (const specialisation of entry.specialisations) conf += menuEntry(specialisation.title, '', specialisation);
  conf = conf.replace(/@bootRoot@/g, boot.path);
  conf += `submenu "${entry.distroName} - All configurations" --class submenu {\n`;
  if (entry.nixosVersion !== null) {
    conf += menuEntry(`${entry.distroName} - Configuration 1 (${entry.linkDate} - ${entry.nixosVersion})`, settings.subEntryOptions, entry);
  }
  conf += '}\n';
  return { text: conf, copies };
}

/** `<bootPath>/grub/state`, which tells later switches that this GRUB is installed; pure. */
export function grubState(settings: GrubSettings, efiTarget: string): string {
  return [settings.fullName, settings.fullVersion, efiTarget, settings.devices.join(','), settings.efiSysMountPoint, JSON.stringify({ extraGrubInstallArgs: settings.extraGrubInstallArgs }), ''].join('\n');
}

/** install-grub.pl's getEfiTarget: which of BIOS and EFI GRUB get installed; pure. */
export function efiTarget(settings: Pick<GrubSettings, 'grub' | 'grubEfi' | 'grubTarget' | 'grubTargetEfi'>): 'no' | 'only' | 'both' | 'neither' {
  if (settings.grub !== '' && settings.grubEfi !== '') return 'both';
  if (settings.grub !== '') return 'no';
  if (settings.grubEfi !== '') return 'only';
  return 'neither';
}
