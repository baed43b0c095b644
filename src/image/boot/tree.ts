/**
 * Writing into a loader's host tree, which mirrors installed paths (`<treeDir>/boot/…`).
 * Files get mode 0644 and folders 0755, as the installers leave them (store files are
 * read-only; their copies on /boot are not).
 */
import { chmod, copyFile, cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImageMount } from './bootloader.js';
import { BootConfigError } from './config.js';

function hostPath(treeDir: string, installedPath: string): string {
  const relative = path.posix.normalize(installedPath).replace(/^\/+/, '');
  if (relative.startsWith('..')) throw new Error(`boot loader path ${installedPath} leaves the image`);
  return path.join(treeDir, relative);
}

export async function writeInstalled(treeDir: string, installedPath: string, content: string | Buffer): Promise<void> {
  const file = hostPath(treeDir, installedPath);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  await writeFile(file, content, { mode: 0o644 });
}

export async function copyInstalled(treeDir: string, installedPath: string, source: string): Promise<void> {
  const file = hostPath(treeDir, installedPath);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  await copyFile(source, file);
  await chmod(file, 0o644);
}

/**
 * Copies the folder `source` to `installedPath`, symlinks followed (a FAT /boot holds
 * none), files 0644 and folders 0755 as a plain copy under umask 022 leaves them.
 */
export async function copyInstalledTree(treeDir: string, installedPath: string, source: string): Promise<void> {
  const dir = hostPath(treeDir, installedPath);
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
  await cp(source, dir, { recursive: true, dereference: true, errorOnExist: true, force: false });
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    await chmod(path.join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o644);
  }
}

export async function makeInstalledDir(treeDir: string, installedPath: string): Promise<void> {
  await mkdir(hostPath(treeDir, installedPath), { recursive: true, mode: 0o755 });
}

/** `/a/b` joined onto a mount point, normalized: `/boot` + `EFI/x` → `/boot/EFI/x`. */
export function under(mountPoint: string, relative: string): string {
  return path.posix.join('/', mountPoint, relative);
}

/** The FAT filesystem mounted exactly at `mountPoint`; anything else is a configuration the image cannot satisfy. */
export function fatMountAt(mounts: readonly ImageMount[], mountPoint: string, option: string): ImageMount {
  const normalized = path.posix.normalize(`/${mountPoint}`).replace(/\/+$/, '') || '/';
  const mount = mounts.find((m) => m.mountPoint === normalized);
  if (!mount || mount.fsType !== 'vfat') {
    const fats = mounts.filter((m) => m.fsType === 'vfat').map((m) => m.mountPoint);
    throw new BootConfigError(
      `${option} = "${mountPoint}", but this image has ${mount ? `a ${mount.fsType} filesystem` : 'no FAT partition'} there` +
        (fats.length > 0 ? ` (its FAT partitions are mounted at ${fats.join(', ')})` : ' (its layout has no EFI system partition)'),
    );
  }
  return mount;
}
