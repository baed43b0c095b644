/**
 * FAT by mkfs.vfat (dosfstools 4.2) and mtools' mcopy, no mount. No `-F`: dosfstools
 * picks FAT12/16/32 from the size itself, as nixpkgs' `mkfs.vfat -n ESP` does (FACTS
 * §6.5: FAT16 for the default ~256 MiB ESP).
 *
 * FAT stores no owners, no mode bits and no symlinks: a tree with a symlink is refused,
 * hard links become separate copies, and extracted files carry no exec bits.
 *
 * Deterministic builds are byte-identical: `--invariant -i VOLID` fixes mkfs.vfat's
 * serial and boot sector, mtools takes SOURCE_DATE_EPOCH as the time of every entry it
 * writes, and entries are added directory by directory in byte order instead of the
 * source's readdir order. FAT dates start in 1980: an earlier epoch is raised to
 * 1980-01-01 00:00 UTC (mtools would wrap it to 2098 instead). Without a given volume
 * id a deterministic build derives one from the label, so ESP and BOOT still differ.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isValidUuid } from '../../fstypes.js';
import { runTool, ToolFailedError } from '../../tools.js';
import {
  assertLabelFits,
  minimalBySearch,
  createSparseFile,
  roughTreeBytes,
  writingOutput,
} from './common.js';
import { writtenWhole } from './whole-file.js';
import { scanTree, type TreeEntry } from './tree.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './filesystem.js';

/** 1980-01-01 00:00:00 UTC, the first moment a FAT directory entry can hold. */
export const FAT_EPOCH = 315532800;
/**
 * mkfs.vfat refusing the size (for an empty file it cannot "discover" one), or mcopy
 * running out of clusters — or of root directory slots, which FAT12/16 fix at mkfs
 * time from the size (FAT32, chosen for larger sizes, has none).
 */
const TOO_SMALL = /too small|Too few blocks|Not enough clusters|Disk full|No free cluster|not enough space|No directory slots|unable to discover size/i;

/** mtools reads names in the locale's charset: UTF-8, or long names get mangled. */
function mtoolsEnv(sourceDateEpoch: number | null): Record<string, string | undefined> {
  return {
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    MTOOLS_SKIP_CHECK: '1',
    SOURCE_DATE_EPOCH: sourceDateEpoch === null ? undefined : String(sourceDateEpoch),
  };
}

/** The 8-hex-digit volume id mkfs.vfat's `-i` takes, or null for a time-based one; pure. */
export function volumeIdFor(build: Pick<FilesystemBuild, 'uuid' | 'label' | 'deterministic'>): string | null {
  if (build.uuid !== null) {
    if (!isValidUuid('fat-serial', build.uuid)) {
      throw new Error(`FAT volume id "${build.uuid}" is not 8 hex digits written as XXXX-XXXX`);
    }
    return build.uuid.replace('-', '').toUpperCase();
  }
  if (!build.deterministic) return null;
  return createHash('sha256').update(`nixdisk vfat ${build.label}`).digest('hex').slice(0, 8).toUpperCase();
}

export function mkfsVfatArgs(
  build: Pick<FilesystemBuild, 'uuid' | 'label' | 'deterministic' | 'output'> & { hiddenSectors?: number | null },
): string[] {
  const volumeId = volumeIdFor(build);
  return [
    ...(volumeId ? ['--invariant', '-i', volumeId] : []),
    ...(build.hiddenSectors ? ['-h', String(build.hiddenSectors)] : []),
    ...(build.label ? ['-n', build.label] : []),
    build.output,
  ];
}

/** What FAT cannot hold, as a message naming the entry, or null; pure. */
export function fatProblem(entries: readonly TreeEntry[]): string | null {
  const seen = new Map<string, string>();
  for (const entry of entries) {
    if (entry.kind === 'symlink') return `FAT cannot hold the symlink ${entry.path}`;
    if (entry.kind === 'other') return `FAT cannot hold the special file ${entry.path}`;
    const folded = entry.path.toUpperCase();
    const clash = seen.get(folded);
    if (clash !== undefined) return `FAT names ignore case: ${clash} and ${entry.path} would be the same entry`;
    seen.set(folded, entry.path);
  }
  return null;
}

async function populate(file: string, sourceDir: string, entries: readonly TreeEntry[], epoch: number | null): Promise<void> {
  const env = mtoolsEnv(epoch);
  const directories = entries.filter((entry) => entry.kind === 'directory').map((entry) => `::/${entry.path}`);
  if (directories.length > 0) await runTool('mmd', ['-i', file, ...directories], { env, input: '' });
  const filesByDirectory = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.kind !== 'file') continue;
    const parent = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/')) : '';
    filesByDirectory.set(parent, [...(filesByDirectory.get(parent) ?? []), join(sourceDir, entry.path)]);
  }
  for (const [parent, files] of filesByDirectory) {
    await runTool('mcopy', ['-i', file, '-p', '-Q', ...(epoch === null ? ['-m'] : []), ...files, parent === '' ? '::/' : `::/${parent}/`], { env, input: '' });
  }
}

interface FatBuild extends Omit<FilesystemBuild, 'sourceDir'> {
  sourceDir: string | null;
  hiddenSectors?: number | null;
}

async function writeFat(build: FatBuild): Promise<void> {
  assertLabelFits('vfat', build.label);
  const entries = build.sourceDir === null ? [] : await scanTree(build.sourceDir);
  const problem = fatProblem(entries);
  if (problem) throw new Error(problem);
  await writingOutput(build, async () => {
    await createSparseFile(build.output, build.sizeBytes);
    try {
      await runTool('mkfs.vfat', mkfsVfatArgs(build));
      if (build.sourceDir !== null) {
        await populate(build.output, build.sourceDir, entries, build.deterministic ? Math.max(build.epoch, FAT_EPOCH) : null);
      }
    } catch (error) {
      if (error instanceof ToolFailedError && TOO_SMALL.test(error.output)) {
        throw new FilesystemTooSmallError('vfat', build.sizeBytes, error.output.trim().split('\n').at(-1) ?? '');
      }
      throw error;
    }
  });
}

const createMinimal = minimalBySearch((attempt) => writeFat(attempt), (entries) => roughTreeBytes(entries) + entries.length * 64 + 64 * 1024, 0);

export const vfat: Filesystem = {
  fsType: 'vfat',
  tools: [
    { command: 'mkfs.vfat', debianPackage: 'dosfstools' },
    { command: 'fsck.vfat', debianPackage: 'dosfstools' },
    { command: 'mmd', debianPackage: 'mtools' },
    { command: 'mcopy', debianPackage: 'mtools' },
    { command: 'mdir', debianPackage: 'mtools' },
  ],
  ...writtenWhole({ create: (build) => writeFat(build), createMinimal }),
  check: async (file) => {
    const { stdout, stderr } = await runTool('fsck.vfat', ['-n', file]);
    return stdout + stderr;
  },
  extract: async (file, destDir) => {
    const env = mtoolsEnv(null);
    const { stdout } = await runTool('mdir', ['-b', '-i', file, '::/'], { env, okExitCodes: [1] });
    if (stdout.trim() === '') return;
    await runTool('mcopy', ['-s', '-n', '-p', '-m', '-i', file, '::/*', destDir], { env, input: '' });
  },
};

export type BootPartitionLabel = 'ESP' | 'BOOT';

export interface BootFatBuild {
  output: string;
  sizeBytes: number;
  /** nixpkgs' labels: ESP for the EFI system partition, BOOT for XBOOTLDR and legacy+boot. */
  label: BootPartitionLabel;
  /** XXXX-XXXX; null for a label-derived id when deterministic, a time-based one otherwise. */
  volumeId: string | null;
  deterministic: boolean;
  epoch: number;
  /** Directory whose contents go onto the filesystem, or null for an empty one. */
  sourceDir: string | null;
  /**
   * The partition's first sector, recorded as "hidden sectors" in the boot sector the
   * way mkfs.vfat does on a real partition in nixpkgs' VM (FACTS §6.5); null records 0.
   */
  partitionStartSector: number | null;
}

/**
 * The FAT filesystem of an ESP or BOOT partition, as nixpkgs makes it with
 * `mkfs.vfat -n ESP|BOOT` (FAT type chosen by dosfstools from the size), optionally
 * filled from a directory.
 */
export function createBootFat(build: BootFatBuild): Promise<void> {
  return writeFat({ ...build, uuid: build.volumeId, hiddenSectors: build.partitionStartSector });
}
