/**
 * FAT formatted by mkfs.vfat (dosfstools 4.2) and filled by nixdisk's own writer
 * (fat/populate.ts), no mount. No `-F`: dosfstools picks FAT12/16/32 from the size
 * itself, as nixpkgs' `mkfs.vfat -n ESP` does (FACTS §6.5: FAT16 for the default
 * ~256 MiB ESP). mtools only reads filesystems back (`extract`).
 *
 * FAT stores no owners, no mode bits and no symlinks: a tree with a symlink is refused,
 * hard links become separate copies, and extracted files carry no exec bits.
 *
 * Deterministic builds are byte-identical: `--invariant -i VOLID` fixes mkfs.vfat's
 * serial and boot sector, every entry is dated the epoch, and entries go in directory
 * by directory in byte order instead of the source's readdir order. FAT dates start in
 * 1980: an earlier epoch is raised to 1980-01-01 00:00 UTC. Other builds keep each
 * entry's modification time. Without a given volume id a deterministic build derives
 * one from the label, so ESP and BOOT still differ.
 */
import { createHash } from 'node:crypto';
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
import { LONGEST_LONG_NAME } from './fat/long-name.js';
import { FatFullError, populateFat } from './fat/populate.js';

/** mkfs.vfat refusing the size (for an empty file it cannot "discover" one). */
const TOO_SMALL = /too small|Too few blocks|Not enough clusters|unable to discover size/i;

/** mtools reads names in the locale's charset: UTF-8, or long names get mangled. */
const MTOOLS_ENV = { LC_ALL: 'C.UTF-8', TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' };

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

/** The largest file FAT's 32-bit size field holds. */
const LARGEST_FILE = 0xffffffff;
/** Characters no VFAT name may hold (besides '/', which separates them): control characters and these. */
const FORBIDDEN_IN_NAME = /[\x00-\x1f"*:<>?\\|]/;

/** What is wrong with one entry's name or size for FAT, or null; pure. */
function entryProblem(entry: TreeEntry): string | null {
  const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
  if (FORBIDDEN_IN_NAME.test(name)) return `FAT names cannot hold control characters or any of "*:<>?\\|: ${JSON.stringify(entry.path)}`;
  // Drivers drop a name's trailing periods and spaces, so it would not be found under its own name.
  if (/[. ]$/.test(name)) return `FAT names cannot end in a period or a space: ${JSON.stringify(entry.path)}`;
  if (name.length > LONGEST_LONG_NAME) return `FAT names hold at most ${LONGEST_LONG_NAME} UTF-16 units: ${entry.path}`;
  if (entry.kind === 'file' && entry.size > LARGEST_FILE) return `FAT files hold at most ${LARGEST_FILE} bytes: ${entry.path} has ${entry.size}`;
  return null;
}

/** What FAT cannot hold, as a message naming the entry, or null; pure. */
export function fatProblem(entries: readonly TreeEntry[]): string | null {
  const seen = new Map<string, string>();
  for (const entry of entries) {
    if (entry.kind === 'symlink') return `FAT cannot hold the symlink ${entry.path}`;
    if (entry.kind === 'other') return `FAT cannot hold the special file ${entry.path}`;
    const problem = entryProblem(entry);
    if (problem) return problem;
    const folded = entry.path.toUpperCase();
    const clash = seen.get(folded);
    if (clash !== undefined) return `FAT names ignore case: ${clash} and ${entry.path} would be the same entry`;
    seen.set(folded, entry.path);
  }
  return null;
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
  const epoch = build.epoch;
  const timeOf = build.deterministic ? () => epoch : (entry: TreeEntry) => entry.times.mtime;
  await writingOutput(build, async () => {
    await createSparseFile(build.output, build.sizeBytes);
    try {
      await runTool('mkfs.vfat', mkfsVfatArgs(build));
    } catch (error) {
      if (error instanceof ToolFailedError && TOO_SMALL.test(error.output)) {
        throw new FilesystemTooSmallError('vfat', build.sizeBytes, error.output.trim().split('\n').at(-1) ?? '');
      }
      throw error;
    }
    try {
      await populateFat(build.output, entries, timeOf);
    } catch (error) {
      if (error instanceof FatFullError) throw new FilesystemTooSmallError('vfat', build.sizeBytes, error.message);
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
    { command: 'mcopy', debianPackage: 'mtools' },
    { command: 'mdir', debianPackage: 'mtools' },
  ],
  ...writtenWhole({ create: (build) => writeFat(build), createMinimal }),
  check: async (file) => {
    const { stdout, stderr } = await runTool('fsck.vfat', ['-n', file]);
    return stdout + stderr;
  },
  extract: async (file, destDir) => {
    const { stdout } = await runTool('mdir', ['-b', '-i', file, '::/'], { env: MTOOLS_ENV, okExitCodes: [1] });
    if (stdout.trim() === '') return;
    await runTool('mcopy', ['-s', '-n', '-p', '-m', '-i', file, '::/*', destDir], { env: MTOOLS_ENV, input: '' });
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
