/**
 * btrfs by `mkfs.btrfs --rootdir` (btrfs-progs 6.2), run under fakeroot so every file
 * is recorded as root-owned (mkfs.btrfs has no all-root option; fakeroot's stat reports
 * uid/gid 0), also when an ordinary user builds from a staged copy that user owns.
 * Hard links stay hard links.
 *
 * Size: with --rootdir on a regular file, mkfs.btrfs grows the file when the tree does
 * not fit (it never writes a filesystem smaller than the tree needs), so the needed
 * size is known after one run: `create` turns growth into FilesystemTooSmallError with
 * that size, and the smallest build starts from a 1 MiB file and keeps what it grew to.
 * (`--shrink` would give a smaller file, but one that a later `create` at that size
 * cannot reproduce.)
 *
 * Not byte-identical even when deterministic: btrfs-progs 6.2 draws the chunk tree
 * UUID and the device UUID at random and has no option to pin them, and inode times are
 * the source tree's. What is pinned: the filesystem UUID (`-U`) and the label.
 * mkfs.btrfs 6.2 also copies the source's xattrs (cptofs does not) and has no switch
 * to leave them out; Nix store trees carry none.
 */
import { lstat } from 'node:fs/promises';
import { requireTool, runTool, ToolFailedError } from '../../tools.js';
import { assertLabelFits, createSparseFile, writingOutput } from './common.js';
import { writtenWhole } from './whole-file.js';
import { DEFAULT_DETERMINISTIC_UUID } from './ext4.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './filesystem.js';

const START_BYTES = 1024 * 1024;
const TOO_SMALL = /no space|ENOSPC|too small/i;

/** mkfs.btrfs arguments (after `fakeroot`); pure. */
export function mkfsBtrfsArgs(build: Pick<FilesystemBuild, 'sourceDir' | 'label' | 'uuid' | 'deterministic' | 'output'>): string[] {
  const uuid = build.uuid ?? (build.deterministic ? DEFAULT_DETERMINISTIC_UUID : null);
  return [
    'mkfs.btrfs',
    '-q',
    '--rootdir', build.sourceDir,
    ...(build.label ? ['-L', build.label] : []),
    ...(uuid ? ['-U', uuid] : []),
    build.output,
  ];
}

/** Builds into a fresh file of `sizeBytes`; resolves with the size mkfs.btrfs left it at. */
async function mkfsGrowing(build: FilesystemBuild): Promise<number> {
  assertLabelFits('btrfs', build.label);
  await requireTool('mkfs.btrfs');
  await createSparseFile(build.output, build.sizeBytes);
  try {
    await runTool('fakeroot', mkfsBtrfsArgs(build));
  } catch (error) {
    if (error instanceof ToolFailedError && TOO_SMALL.test(error.output)) {
      throw new FilesystemTooSmallError('btrfs', build.sizeBytes, error.output.trim().split('\n').at(-1) ?? '');
    }
    throw error;
  }
  return (await lstat(build.output)).size;
}

async function create(build: FilesystemBuild): Promise<void> {
  await writingOutput(build, async () => {
    const size = await mkfsGrowing(build);
    if (size > build.sizeBytes) {
      throw new FilesystemTooSmallError('btrfs', build.sizeBytes, 'mkfs.btrfs needed a larger file for the tree', size);
    }
  });
}

async function createMinimal(build: Omit<FilesystemBuild, 'sizeBytes'>): Promise<number> {
  return writingOutput(build, () => mkfsGrowing({ ...build, sizeBytes: START_BYTES }));
}

export const btrfs: Filesystem = {
  fsType: 'btrfs',
  tools: [
    { command: 'mkfs.btrfs', debianPackage: 'btrfs-progs' },
    { command: 'btrfs', debianPackage: 'btrfs-progs' },
    { command: 'fakeroot', debianPackage: 'fakeroot' },
    { command: 'unshare', debianPackage: 'util-linux' },
  ],
  ...writtenWhole({ create, createMinimal }),
  check: async (file) => {
    const { stdout, stderr } = await runTool('btrfs', ['check', '--readonly', file]);
    return stdout + stderr;
  },
  /**
   * -m restores owners, modes and times, -S symlinks; hard links come out as separate
   * files. restore gives up on a file whose chown fails, before setting its mode, so an
   * ordinary user runs it as root of a user namespace (chown to 0 there is allowed);
   * where user namespaces are off, under fakeroot, which keeps exec bits (all a NAR
   * hash sees) but leaves files owner-writable.
   */
  extract: async (file, destDir) => {
    const restore = ['btrfs', 'restore', '-m', '-S', file, destDir];
    if (process.getuid?.() === 0) {
      await runTool(restore[0]!, restore.slice(1));
      return;
    }
    await requireTool('btrfs');
    try {
      await runTool('unshare', ['--map-root-user', ...restore]);
    } catch (error) {
      if (!(error instanceof ToolFailedError && /^unshare: /m.test(error.stderr))) throw error;
      await runTool('fakeroot', restore);
    }
  },
};
