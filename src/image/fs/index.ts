/** The registry of filesystem writers: one module per fsType, looked up by the name nixpkgs uses. */
import { btrfs } from './btrfs.js';
import { erofs } from './erofs.js';
import { ext4 } from './ext4.js';
import { f2fs } from './f2fs.js';
import type { Filesystem } from './filesystem.js';
import { squashfs } from './squashfs.js';
import { vfat } from './vfat.js';
import { xfs } from './xfs.js';

export const FILESYSTEMS: Readonly<Record<string, Filesystem>> = { ext4, btrfs, xfs, erofs, squashfs, vfat, f2fs };

export class UnsupportedFsTypeError extends Error {
  constructor(readonly fsType: string) {
    super(`nixdisk cannot write fsType "${fsType}"; supported: ${Object.keys(FILESYSTEMS).join(', ')}`);
  }
}

export function filesystemFor(fsType: string): Filesystem {
  if (!Object.hasOwn(FILESYSTEMS, fsType)) throw new UnsupportedFsTypeError(fsType);
  return FILESYSTEMS[fsType]!;
}

export { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './filesystem.js';
export { createBootFat, type BootFatBuild, type BootPartitionLabel } from './vfat.js';
