/**
 * squashfs by mksquashfs (squashfs-tools 4.5): a compressed read-only image built at
 * its natural size. `-all-root` makes everything root-owned, `-no-xattrs` matches
 * cptofs (which copies none), hard links stay hard links.
 *
 * Deterministic builds are byte-identical: `-reproducible` (ordered, single-order
 * fragment packing), `-mkfs-time` and `-all-time` pin every stored time to the epoch.
 *
 * The format has neither a label nor a UUID: the label and uuid of a build are not
 * stored (FS_TYPES says so, so the static analysis can warn about a label).
 */
import { runTool } from '../../tools.js';
import { assertEpochInRange, createReadOnlyImage } from './common.js';
import { writtenWhole } from './whole-file.js';
import type { Filesystem, FilesystemBuild } from './filesystem.js';

/** mksquashfs arguments; pure. */
export function mksquashfsArgs(build: Pick<FilesystemBuild, 'sourceDir' | 'deterministic' | 'epoch'>, output: string): string[] {
  const args = [build.sourceDir, output, '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress'];
  if (build.deterministic) {
    args.push('-reproducible', '-mkfs-time', String(build.epoch), '-all-time', String(build.epoch));
  }
  return args;
}

function write(build: Omit<FilesystemBuild, 'sizeBytes'> & { sizeBytes: number | null }): Promise<number> {
  if (build.deterministic) assertEpochInRange(build.epoch);
  return createReadOnlyImage('squashfs', build, async (path) => {
    // mksquashfs refuses an inherited SOURCE_DATE_EPOCH together with -all-time; the build's own flag decides.
    await runTool('mksquashfs', mksquashfsArgs(build, path), { env: { SOURCE_DATE_EPOCH: undefined } });
  });
}

export const squashfs: Filesystem = {
  fsType: 'squashfs',
  tools: [
    { command: 'mksquashfs', debianPackage: 'squashfs-tools' },
    { command: 'unsquashfs', debianPackage: 'squashfs-tools' },
  ],
  ...writtenWhole({
    create: async (build) => {
      await write(build);
    },
    createMinimal: (build) => write({ ...build, sizeBytes: null }),
  }),
  /** Reads the superblock and every directory and inode (unsquashfs fails on damaged metadata). */
  check: async (file) => {
    const stats = await runTool('unsquashfs', ['-s', file]);
    const listing = await runTool('unsquashfs', ['-no-progress', '-lln', file]);
    return stats.stdout + listing.stdout;
  },
  extract: async (file, destDir) => {
    await runTool('unsquashfs', ['-no-progress', '-quiet', '-f', '-no-xattrs', '-d', destDir, file]);
  },
};
