/**
 * EROFS by mkfs.erofs (erofs-utils 1.5): an uncompressed read-only image built at its
 * natural size. `--all-root` makes everything root-owned, `-x -1` leaves xattrs out
 * (cptofs copies none), hard links stay hard links.
 *
 * Deterministic builds are byte-identical: `-T epoch` with `--ignore-mtime` stores the
 * epoch as every inode's time (compact inodes), `-U` pins the UUID and mkfs.erofs sorts
 * directory entries itself.
 *
 * erofs-utils 1.5 has no option for the volume label (`-L` came with 1.6), so the label
 * is not stored; FS_TYPES records erofs as label-less for that reason.
 */
import { runTool } from '../../tools.js';
import { assertEpochInRange, createReadOnlyImage } from './common.js';
import { writtenWhole } from './whole-file.js';
import { DEFAULT_DETERMINISTIC_UUID } from './ext4.js';
import type { Filesystem, FilesystemBuild } from './filesystem.js';

/** mkfs.erofs arguments; pure. */
export function mkfsErofsArgs(build: Pick<FilesystemBuild, 'sourceDir' | 'uuid' | 'deterministic' | 'epoch'>, output: string): string[] {
  const uuid = build.uuid ?? (build.deterministic ? DEFAULT_DETERMINISTIC_UUID : null);
  return [
    '--quiet',
    '--all-root',
    '-x', '-1',
    ...(uuid ? [`-U${uuid}`] : []),
    ...(build.deterministic ? [`-T${build.epoch}`, '--ignore-mtime'] : []),
    output,
    build.sourceDir,
  ];
}

function write(build: Omit<FilesystemBuild, 'sizeBytes'> & { sizeBytes: number | null }): Promise<number> {
  if (build.deterministic) assertEpochInRange(build.epoch);
  return createReadOnlyImage('erofs', build, async (path) => {
    // mkfs.erofs would take an inherited SOURCE_DATE_EPOCH as its -T; the build's own flag decides.
    await runTool('mkfs.erofs', mkfsErofsArgs(build, path), { env: { SOURCE_DATE_EPOCH: undefined } });
  });
}

export const erofs: Filesystem = {
  fsType: 'erofs',
  tools: [
    { command: 'mkfs.erofs', debianPackage: 'erofs-utils' },
    { command: 'fsck.erofs', debianPackage: 'erofs-utils' },
  ],
  ...writtenWhole({
    create: async (build) => {
      await write(build);
    },
    createMinimal: (build) => write({ ...build, sizeBytes: null }),
  }),
  /** `--extract` without a target decodes every file, so damaged data is found, not only damaged metadata. */
  check: async (file) => {
    const { stdout, stderr } = await runTool('fsck.erofs', ['--extract', file]);
    return stdout + stderr;
  },
  extract: async (file, destDir) => {
    const asRoot = process.getuid?.() === 0;
    await runTool('fsck.erofs', [`--extract=${destDir}`, '--overwrite', asRoot ? '--preserve' : '--preserve-perms', file]);
  },
};
