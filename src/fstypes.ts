/**
 * Static facts about every fsType nixdisk can write, shared by the static analysis
 * (which must not run tools) and the filesystem writers in src/image/fs/.
 * Pure data: nothing here runs a process.
 */

/** How a filesystem names its UUID-like identifier, as `blkid`/fstab show it. */
export type UuidNotation =
  /** 8-4-4-4-12 hex, e.g. f222513b-ded1-49fa-b591-20ce86a2fe7f */
  | 'dce'
  /** FAT volume serial, 8 hex digits shown as XXXX-XXXX */
  | 'fat-serial'
  /** no identifier at all */
  | 'none';

export interface FsTypeFacts {
  fsType: string;
  /** Longest label the on-disk format holds, in bytes of UTF-8; null when it has no label. */
  labelMaxBytes: number | null;
  uuidNotation: UuidNotation;
  /** Debian package with the tool that creates it. */
  debianPackage: string;
  /** Read-only images are built at their natural size; they cannot be grown into a partition. */
  readOnly: boolean;
  /** Whether owners, mode bits and symlinks survive (false for FAT: a NixOS store cannot live there). */
  posix: boolean;
}

export const FS_TYPES: Readonly<Record<string, FsTypeFacts>> = {
  ext4: { fsType: 'ext4', labelMaxBytes: 16, uuidNotation: 'dce', debianPackage: 'e2fsprogs', readOnly: false, posix: true },
  btrfs: { fsType: 'btrfs', labelMaxBytes: 255, uuidNotation: 'dce', debianPackage: 'btrfs-progs', readOnly: false, posix: true },
  xfs: { fsType: 'xfs', labelMaxBytes: 12, uuidNotation: 'dce', debianPackage: 'xfsprogs', readOnly: false, posix: true },
  // The format has 16 bytes for a label, but erofs-utils 1.5 (Debian 12) cannot write it.
  erofs: { fsType: 'erofs', labelMaxBytes: null, uuidNotation: 'dce', debianPackage: 'erofs-utils', readOnly: true, posix: true },
  squashfs: { fsType: 'squashfs', labelMaxBytes: null, uuidNotation: 'none', debianPackage: 'squashfs-tools', readOnly: true, posix: true },
  vfat: { fsType: 'vfat', labelMaxBytes: 11, uuidNotation: 'fat-serial', debianPackage: 'dosfstools', readOnly: false, posix: false },
  f2fs: { fsType: 'f2fs', labelMaxBytes: 512, uuidNotation: 'dce', debianPackage: 'f2fs-tools', readOnly: false, posix: true },
};

export const SUPPORTED_FS_TYPES: readonly string[] = Object.keys(FS_TYPES);

export function fsTypeFacts(fsType: string): FsTypeFacts | undefined {
  return Object.hasOwn(FS_TYPES, fsType) ? FS_TYPES[fsType] : undefined;
}

const UUID_PATTERNS: Record<UuidNotation, RegExp> = {
  dce: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
  'fat-serial': /^[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}$/,
  none: /^$/,
};

/** Whether `uuid` is written the way this fsType's identifier is written. */
export function isValidUuid(notation: UuidNotation, uuid: string): boolean {
  return UUID_PATTERNS[notation].test(uuid);
}

/** Why `label` cannot be this fsType's label, or null when it fits. */
export function labelProblem(facts: FsTypeFacts, label: string): string | null {
  const bytes = Buffer.byteLength(label, 'utf8');
  if (facts.labelMaxBytes === null) return label === '' ? null : `${facts.fsType} has no volume label`;
  if (bytes > facts.labelMaxBytes) {
    return `label "${label}" is ${bytes} bytes; ${facts.fsType} labels hold at most ${facts.labelMaxBytes}`;
  }
  return null;
}
