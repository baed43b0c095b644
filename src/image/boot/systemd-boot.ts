/**
 * systemd-boot as `bootctl install` and NixOS's systemd-boot-builder.py leave it for
 * generation 1 (FACTS §7.2): the loader and its fallback copy on the ESP, loader.conf
 * on the ESP, the entry and the kernel/initrd copies on $BOOT (the XBOOTLDR partition
 * when `boot.loader.systemd-boot.xbootldrMountPoint` is set, else the ESP).
 */
import { randomBytes } from 'node:crypto';
import { access, lstat, realpath } from 'node:fs/promises';
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
}

/** `loader/entries/nixos-generation-<G>.conf`; pure. */
export function entryConf(entry: EntryFields): string {
  return [
    `title ${entry.title}`,
    `sort-key ${entry.sortKey}`,
    `version Generation ${entry.generation} ${entry.label}${entry.buildDate ? `, built on ${entry.buildDate}` : ''}`,
    `linux /${entry.kernel}`,
    ...(entry.initrd ? [`initrd /${entry.initrd}`] : []),
    `options init=${entry.init} ${entry.kernelParams.join(' ')}`,
    '',
  ].join('\n');
}

/** The local date of the generation's ctime, as the builder prints it (`%F`). */
async function buildDate(toplevel: string): Promise<string> {
  const ctime = (await lstat(toplevel)).ctime;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${ctime.getFullYear()}-${pad(ctime.getMonth() + 1)}-${pad(ctime.getDate())}`;
}

export async function installSystemdBoot(target: BootTarget, spec: Bootspec, settings: LoaderConfig, treeDir: string): Promise<BootInstallation> {
  const esp = fatMountAt(target.mounts, settings.efiSysMountPoint, 'boot.loader.efi.efiSysMountPoint');
  const boot = settings.systemdBoot.xbootldrMountPoint
    ? fatMountAt(target.mounts, settings.systemdBoot.xbootldrMountPoint, 'boot.loader.systemd-boot.xbootldrMountPoint')
    : esp;
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

  const kernelSource = await realpath(spec.kernel);
  const kernel = efiCopyName(kernelSource);
  await copyInstalled(treeDir, under(boot.mountPoint, kernel), kernelSource);
  let initrd: string | undefined;
  if (spec.initrd) {
    const initrdSource = await realpath(spec.initrd);
    initrd = efiCopyName(initrdSource);
    await copyInstalled(treeDir, under(boot.mountPoint, initrd), initrdSource);
  }
  const generation = 1;
  const entryName = `nixos-generation-${generation}.conf`;
  await writeInstalled(
    treeDir,
    under(boot.mountPoint, `loader/entries/${entryName}`),
    entryConf({
      title: settings.distroName,
      sortKey: spec.sortKey ?? settings.systemdBoot.sortKey,
      generation,
      label: spec.label,
      buildDate: target.deterministic ? null : await buildDate(spec.toplevel),
      kernel,
      ...(initrd ? { initrd } : {}),
      init: spec.init,
      kernelParams: spec.kernelParams,
    }),
  );
  await writeInstalled(treeDir, under(esp.mountPoint, 'loader/loader.conf'), loaderConf(settings, entryName));
  return {
    treeDir,
    diskWrites: [],
    efiBootEntries: settings.canTouchEfiVariables
      ? [{ description: 'Linux Boot Manager', espMountPoint: esp.mountPoint, loaderPath: `\\EFI\\systemd\\systemd-boot${arch.suffix}.efi` }]
      : [],
  };
}
