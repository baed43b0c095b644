/**
 * systemd-boot as `bootctl install` and NixOS's systemd-boot-builder.py leave it for
 * generation 1 (FACTS §7.2): the loader and its fallback copy on the ESP, loader.conf
 * on the ESP, the entry and the kernel/initrd copies on $BOOT (the XBOOTLDR partition
 * when `boot.loader.systemd-boot.xbootldrMountPoint` is set, else the ESP).
 */
import { randomBytes } from 'node:crypto';
import { access, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { BootInstallation, BootTarget } from './bootloader.js';
import type { Bootspec } from './bootspec.js';
import { BootConfigError, type LoaderConfig } from './config.js';
import { copyInstalled, fatMountAt, makeInstalledDir, under, writeInstalled } from './tree.js';

const NIXOS_DIR = 'EFI/nixos';

/** UEFI's names for a bootspec `system`'s architecture: systemd-boot's suffix and the removable-media path. */
export function efiArch(system: string): { suffix: string; fallback: string } {
  const cpu = system.split('-')[0];
  switch (cpu) {
    case 'x86_64':
      return { suffix: 'x64', fallback: 'BOOTX64.EFI' };
    case 'aarch64':
      return { suffix: 'aa64', fallback: 'BOOTAA64.EFI' };
    case 'i686':
      return { suffix: 'ia32', fallback: 'BOOTIA32.EFI' };
    default:
      throw new BootConfigError(`nixdisk does not know the EFI names for system "${system}" (from boot.json)`);
  }
}

/** `EFI/nixos/<store entry>-<file>.efi` for a resolved store file, as the builder names its copies; pure. */
export function efiCopyName(resolvedStoreFile: string, storeDir = '/nix/store'): string {
  const relative = path.posix.relative(storeDir, resolvedStoreFile);
  if (relative.startsWith('..') || relative === '') throw new Error(`${resolvedStoreFile} is not in ${storeDir}`);
  const storeEntry = relative.split('/')[0]!;
  const base = path.posix.basename(resolvedStoreFile);
  return `${NIXOS_DIR}/${base === storeEntry ? base : `${storeEntry}-${base}`}.efi`;
}

/** loader.conf as the builder writes it; pure. */
export function loaderConf(settings: Pick<LoaderConfig, 'timeout' | 'systemdBoot'>, defaultEntry: string): string {
  return [
    `timeout ${settings.timeout === null ? 'menu-force' : settings.timeout}`,
    `default ${defaultEntry}`,
    ...(settings.systemdBoot.editor ? [] : ['editor 0']),
    `console-mode ${settings.systemdBoot.consoleMode}`,
    '',
  ].join('\n');
}

export interface EntryFields {
  title: string;
  sortKey: string;
  generation: number;
  label: string;
  /** `YYYY-MM-DD`, or null for none (deterministic builds). */
  buildDate: string | null;
  kernel: string;
  initrd?: string;
  init: string;
  kernelParams: readonly string[];
  devicetree?: string;
}

/** The entry's file name: `nixos-generation-<G>[-specialisation-<name>].conf`; pure. */
export function entryFileName(generation: number, specialisation: string | null): string {
  return `nixos-generation-${generation}${specialisation ? `-specialisation-${specialisation}` : ''}.conf`;
}

/** The entry's file; pure. */
export function entryConf(entry: EntryFields): string {
  return [
    `title ${entry.title}`,
    `sort-key ${entry.sortKey}`,
    `version Generation ${entry.generation} ${entry.label}${entry.buildDate ? `, built on ${entry.buildDate}` : ''}`,
    `linux /${entry.kernel}`,
    ...(entry.initrd ? [`initrd /${entry.initrd}`] : []),
    `options init=${entry.init} ${entry.kernelParams.join(' ')}`,
    ...(entry.devicetree ? [`devicetree /${entry.devicetree}`] : []),
    '',
  ].join('\n');
}

/** The local date of the generation's ctime, as the builder prints it (`%F`); a specialisation's link is followed. */
async function buildDate(systemDir: string): Promise<string> {
  const ctime = (await stat(systemDir)).ctime;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${ctime.getFullYear()}-${pad(ctime.getMonth() + 1)}-${pad(ctime.getDate())}`;
}

/**
 * What the installer's copy-extra-files script adds (systemd-boot.nix): `extraFiles` on
 * $BOOT, `extraEntries` in $BOOT/loader/entries, each remembered by an empty file under
 * `EFI/nixos/.extra-files/` (so that a later switch removes what the config no longer
 * names), and `extraEfiDrivers` on the ESP.
 */
async function installExtraFiles(treeDir: string, settings: LoaderConfig['systemdBoot'], bootMount: string, espMount: string): Promise<void> {
  // NixOS asserts these; a config that skipped its asserts must still not write outside the partition.
  const checked = (name: string, option: string): string => {
    if (name.startsWith('/') || name.split('/').some((part) => part === '..' || part === '')) {
      throw new BootConfigError(`boot.loader.systemd-boot.${option}."${name}" must be a relative path inside the partition`);
    }
    return name;
  };
  const remember = (relative: string) => writeInstalled(treeDir, under(bootMount, `${NIXOS_DIR}/.extra-files/${relative}`), '');
  await makeInstalledDir(treeDir, under(bootMount, `${NIXOS_DIR}/.extra-files`));
  for (const [name, source] of Object.entries(settings.extraFiles)) {
    await copyInstalled(treeDir, under(bootMount, checked(name, 'extraFiles')), source);
    await remember(name);
  }
  for (const [name, text] of Object.entries(settings.extraEntries)) {
    if (name.includes('/')) throw new BootConfigError(`boot.loader.systemd-boot.extraEntries."${name}": entries within folders are not supported`);
    await writeInstalled(treeDir, under(bootMount, `loader/entries/${checked(name, 'extraEntries')}`), text);
    await remember(`loader/entries/${name}`);
  }
  for (const [name, source] of Object.entries(settings.extraEfiDrivers)) await copyInstalled(treeDir, under(espMount, checked(name, 'extraEfiDrivers')), source);
}

export async function installSystemdBoot(target: BootTarget, spec: Bootspec, settings: LoaderConfig, treeDir: string): Promise<BootInstallation> {
  const esp = fatMountAt(target.mounts, settings.efiSysMountPoint, 'boot.loader.efi.efiSysMountPoint');
  const boot = settings.systemdBoot.xbootldrMountPoint
    ? fatMountAt(target.mounts, settings.systemdBoot.xbootldrMountPoint, 'boot.loader.systemd-boot.xbootldrMountPoint')
    : esp;
  if (settings.systemdBoot.extraInstallCommands.trim() !== '') {
    throw new BootConfigError(
      'boot.loader.systemd-boot.extraInstallCommands is a shell script that runs on the installed system; nixdisk does not run it: put the files it makes in boot.loader.systemd-boot.extraFiles or extraEntries, or set installBootLoader = false',
    );
  }
  if (!settings.systemdPackage) {
    throw new BootConfigError('systemd-boot is enabled but config.systemd.package is missing: nixdisk takes systemd-boot<arch>.efi from it');
  }
  const arch = efiArch(spec.system);
  const loader = path.join(settings.systemdPackage, 'lib/systemd/boot/efi', `systemd-boot${arch.suffix}.efi`);
  await access(loader).catch(() => {
    throw new BootConfigError(`config.systemd.package has no ${path.relative(settings.systemdPackage!, loader)} (looked for ${loader})`);
  });

  await copyInstalled(treeDir, under(esp.mountPoint, `EFI/systemd/systemd-boot${arch.suffix}.efi`), loader);
  await copyInstalled(treeDir, under(esp.mountPoint, `EFI/BOOT/${arch.fallback}`), loader);
  await makeInstalledDir(treeDir, under(boot.mountPoint, 'EFI/Linux'));
  await writeInstalled(treeDir, under(boot.mountPoint, 'loader/entries.srel'), 'type1\n');
  if (!target.deterministic) await writeInstalled(treeDir, under(esp.mountPoint, 'loader/random-seed'), randomBytes(32));

  /** Copies a store file to `$BOOT/EFI/nixos/` under the builder's name for it; resolves with that name. */
  const copyToBoot = async (storeFile: string): Promise<string> => {
    const source = await realpath(storeFile);
    const installed = efiCopyName(source);
    await copyInstalled(treeDir, under(boot.mountPoint, installed), source);
    return installed;
  };
  const generation = 1;
  const writeEntry = async (entrySpec: Bootspec, specialisation: string | null, systemDir: string): Promise<void> => {
    const kernel = await copyToBoot(entrySpec.kernel);
    const initrd = entrySpec.initrd ? await copyToBoot(entrySpec.initrd) : undefined;
    const devicetree = entrySpec.devicetree ? await copyToBoot(entrySpec.devicetree) : undefined;
    await writeInstalled(
      treeDir,
      under(boot.mountPoint, `loader/entries/${entryFileName(generation, specialisation)}`),
      entryConf({
        title: `${settings.distroName}${specialisation ? ` (${specialisation})` : ''}`,
        sortKey: entrySpec.sortKey ?? settings.systemdBoot.sortKey,
        generation,
        label: entrySpec.label,
        buildDate: target.deterministic ? null : await buildDate(systemDir),
        kernel,
        ...(initrd ? { initrd } : {}),
        init: entrySpec.init,
        kernelParams: entrySpec.kernelParams,
        ...(devicetree ? { devicetree } : {}),
      }),
    );
  };
  await writeEntry(spec, null, spec.toplevel);
  // The builder writes the specialisations' entries in the bootspec's order, which jq sorted.
  for (const name of Object.keys(spec.specialisations).sort()) {
    await writeEntry(spec.specialisations[name]!, name, path.join(spec.toplevel, 'specialisation', name));
  }
  await writeInstalled(treeDir, under(esp.mountPoint, 'loader/loader.conf'), loaderConf(settings, entryFileName(generation, null)));
  await installExtraFiles(treeDir, settings.systemdBoot, boot.mountPoint, esp.mountPoint);
  return {
    treeDir,
    diskWrites: [],
    efiBootEntries: settings.canTouchEfiVariables
      ? [{ description: 'Linux Boot Manager', espMountPoint: esp.mountPoint, loaderPath: `\\EFI\\systemd\\systemd-boot${arch.suffix}.efi` }]
      : [],
  };
}
