/**
 * `installBootLoader`: the loader the configuration enables, installed as NixOS's
 * installer would for generation 1, into a host tree plus disk writes and UEFI boot
 * entries (see bootloader.ts). The kernel, initrd, init and parameters come from the
 * toplevel's boot.json, the loader and its settings from where NixOS exposes them.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BootInstallation, BootTarget } from './bootloader.js';
import { readBootspec, type Bootspec } from './bootspec.js';
import { BootConfigError, chosenLoader, readLoaderConfig } from './config.js';
import { installGrub, readGrubSettings } from './grub.js';
import { installSystemdBoot } from './systemd-boot.js';

/**
 * What `installBootLoader` would refuse, refused before anything is written: a loader
 * nixdisk cannot install, a toplevel without boot.json, GRUB settings it cannot honour.
 */
export async function checkBootLoader(config: Record<string, unknown>, toplevel: string): Promise<void> {
  const loader = readLoaderConfig(config);
  const which = chosenLoader(loader);
  await readInstallableBootspec(toplevel);
  if (which === 'grub') await readGrubSettings(loader);
}

/**
 * The toplevel's bootspec, refused when it has initrd secrets: both installers run
 * `append-initrd-secrets` to copy them from the installing machine, which nixdisk's
 * build (like nixpkgs' build VM) is not.
 */
async function readInstallableBootspec(toplevel: string): Promise<Bootspec> {
  const spec = await readBootspec(toplevel);
  for (const [name, entry] of [['', spec] as const, ...Object.entries(spec.specialisations)]) {
    if (entry.initrdSecrets) {
      throw new BootConfigError(
        `${name ? `specialisation "${name}" of ` : ''}${toplevel} has boot.initrd.secrets: their files are copied from the machine that installs the boot loader, which an image build is not; drop them from the image's configuration or set installBootLoader = false`,
      );
    }
  }
  return spec;
}

export async function installBootLoader(target: BootTarget): Promise<BootInstallation> {
  const loader = readLoaderConfig(target.config);
  const which = chosenLoader(loader);
  const spec = await readInstallableBootspec(target.toplevel);
  const treeDir = path.join(target.workDir, 'boot-tree');
  await mkdir(treeDir, { recursive: true });
  return which === 'grub' ? installGrub(target, spec, loader, treeDir) : installSystemdBoot(target, spec, loader, treeDir);
}
