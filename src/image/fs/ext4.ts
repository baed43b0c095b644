/**
 * ext4 by `mke2fs -d`, the way nixpkgs makes its root filesystem (FACTS §4.1): 4 KiB
 * blocks, e2fsprogs' compiled-in profile (MKE2FS_CONFIG points at a missing file, as
 * in the Nix sandbox), so the feature list is has_journal ext_attr resize_inode
 * dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink
 * extra_isize metadata_csum with 256-byte inodes.
 *
 * mke2fs copies owners and the atime/ctime/mtime of the source tree into the inodes.
 * nixpkgs' cptofs leaves everything root-owned (FACTS §6.3), and deterministic builds
 * must not depend on when the staging tree was touched, so one `debugfs -w -f script`
 * pass afterwards sets uid/gid 0 on every inode in use and, when deterministic, pins
 * atime, ctime, mtime and crtime (nanoseconds zeroed) to `epoch`. The mtime is pinned
 * too, rather than kept: store files already have mtime 1, and anything else in the
 * staging tree (activation output, bootloader files) would otherwise carry the build's
 * wall clock. Together with E2FSPROGS_FAKE_TIME (superblock and journal times; e2fsprogs
 * 1.47.0 ignores SOURCE_DATE_EPOCH), `-U` and `-E hash_seed=`, equal trees give equal
 * bytes. mke2fs 1.47 adds directory entries in sorted order, not the source's readdir
 * order, so a re-copied tree gives the same layout (runTool's LC_ALL=C keeps locale
 * collation out of it).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { runTool, ToolFailedError } from '../../tools.js';
import {
  assertAbsent,
  metadataScratchRoot,
  assertEpochInRange,
  assertLabelFits,
  assertOutsideSource,
  createSmallestBySearch,
  createSparseFile,
  scanTree,
  withScratchDir,
  writingOutput,
} from './common.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './filesystem.js';

const BLOCK = 4096;
/** nixpkgs' make-ext4-fs default, used when a deterministic build names no UUID. */
export const DEFAULT_DETERMINISTIC_UUID = '44444444-4444-4444-8888-888888888888';
const MISSING_MKE2FS_CONFIG = '/nonexistent/nixdisk/mke2fs.conf';
/** mke2fs refusing the size (the last two for sizes too small for any ext4), or -d running out of room. */
const TOO_SMALL =
  /Not enough space to build proposed filesystem|Could not allocate (block|inode)|No space left on device|Could not expand directory|Device size reported to be zero|Illegal inode number while writing reserved inodes/;

function effectiveUuid(build: Pick<FilesystemBuild, 'uuid' | 'deterministic'>): string | null {
  return build.uuid ?? (build.deterministic ? DEFAULT_DETERMINISTIC_UUID : null);
}

function toolEnv(build: Pick<FilesystemBuild, 'deterministic' | 'epoch'>): Record<string, string> {
  const env: Record<string, string> = { MKE2FS_CONFIG: MISSING_MKE2FS_CONFIG };
  if (build.deterministic) env.E2FSPROGS_FAKE_TIME = String(build.epoch);
  return env;
}

/** The mke2fs arguments for one build; pure, so the flags can be tested against FACTS §4. */
export function mke2fsArgs(
  build: Pick<FilesystemBuild, 'label' | 'uuid' | 'deterministic' | 'output'> & { sourceDir: string | null },
): string[] {
  const uuid = effectiveUuid(build);
  // no_copy_xattrs: cptofs copies none (FACTS §6.3), and host labels (SELinux) would make bytes depend on the host.
  const extended = ['root_owner=0:0', 'no_copy_xattrs'];
  if (build.deterministic && uuid) extended.push(`hash_seed=${uuid}`);
  return [
    '-q',
    '-t', 'ext4',
    '-b', String(BLOCK),
    '-F',
    '-L', build.label,
    ...(uuid ? ['-U', uuid] : []),
    '-E', extended.join(','),
    ...(build.sourceDir !== null ? ['-d', build.sourceDir] : []),
    build.output,
  ];
}

async function mke2fs(build: FilesystemBuild, sourceDir: string | null): Promise<void> {
  try {
    await runTool('mke2fs', mke2fsArgs({ ...build, sourceDir }), { env: toolEnv(build) });
  } catch (error) {
    if (error instanceof ToolFailedError && TOO_SMALL.test(error.output)) {
      throw new FilesystemTooSmallError('ext4', build.sizeBytes, lastLine(error.stderr));
    }
    throw error;
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

interface SuperblockCounts {
  blockCount: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
  inodesPerGroup: number;
  firstInode: number;
}

/** Reads the counts `dumpe2fs -h` prints; pure. */
export function parseSuperblockCounts(dumpe2fsHeader: string): SuperblockCounts {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:[ \\t]+(\\d+)$`, 'm').exec(dumpe2fsHeader);
    if (!match) throw new Error(`dumpe2fs printed no "${name}" field`);
    return Number(match[1]);
  };
  return {
    blockCount: field('Block count'),
    freeBlocks: field('Free blocks'),
    inodeCount: field('Inode count'),
    freeInodes: field('Free inodes'),
    inodesPerGroup: field('Inodes per group'),
    firstInode: field('First inode'),
  };
}

/**
 * The inode numbers in use, from the per-group "Free inodes:" ranges of `dumpe2fs`
 * output; pure. Reserved inodes below `firstInode` other than the root (2) are left
 * out: mke2fs made them itself, under the pinned clock.
 */
export function inodesInUse(dumpe2fsOutput: string): number[] {
  const counts = parseSuperblockCounts(dumpe2fsOutput);
  const freeRanges: [number, number][] = [];
  for (const match of dumpe2fsOutput.matchAll(/^[ \t]+Free inodes:[ \t]*(.*)$/gm)) {
    for (const range of match[1]!.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
      const [first, last = first] = range.split('-').map(Number) as [number, number?];
      freeRanges.push([first, last]);
    }
  }
  freeRanges.sort((a, b) => a[0] - b[0]);
  const used: number[] = [];
  const keep = (ino: number) => ino === 2 || ino >= counts.firstInode;
  let next = 1;
  for (const [first, last] of [...freeRanges, [counts.inodeCount + 1, counts.inodeCount + 1] as [number, number]]) {
    for (let ino = next; ino < first; ino++) if (keep(ino)) used.push(ino);
    next = Math.max(next, last + 1);
  }
  return used;
}

/** The debugfs script that makes every listed inode root-owned and, with an epoch, pins its times; pure. */
export function pinInodesScript(inodes: readonly number[], epoch: number | null): string {
  const lines: string[] = [];
  for (const ino of inodes) {
    lines.push(`sif <${ino}> uid 0`, `sif <${ino}> gid 0`);
    if (epoch === null) continue;
    for (const field of ['atime', 'ctime', 'mtime', 'crtime']) {
      lines.push(`sif <${ino}> ${field} @${epoch}`, `sif <${ino}> ${field}_extra 0`);
    }
  }
  return lines.join('\n') + '\n';
}

async function pinInodes(build: FilesystemBuild): Promise<void> {
  const { stdout } = await runTool('dumpe2fs', [build.output], { env: toolEnv(build) });
  const script = pinInodesScript(inodesInUse(stdout), build.deterministic ? build.epoch : null);
  await withScratchDir(dirname(build.output), async (dir) => {
    const scriptFile = join(dir, 'pin.debugfs');
    await writeFile(scriptFile, script);
    const { stderr } = await runTool('debugfs', ['-w', '-f', scriptFile, build.output], { env: toolEnv(build) });
    const complaints = stderr.split('\n').filter((line) => line.trim() !== '' && !/^debugfs \d/.test(line));
    if (complaints.length > 0) throw new Error(`debugfs could not pin inodes of ${build.output}:\n${complaints.join('\n')}`);
  });
}

function validate(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>): void {
  assertLabelFits('ext4', build.label);
  if (build.deterministic) assertEpochInRange(build.epoch);
}

async function create(build: FilesystemBuild): Promise<void> {
  validate(build);
  await writingOutput(build, async () => {
    await createSparseFile(build.output, Math.floor(build.sizeBytes / BLOCK) * BLOCK);
    await mke2fs(build, build.sourceDir);
    await pinInodes(build);
  });
}

async function superblockCounts(file: string): Promise<SuperblockCounts> {
  const { stdout } = await runTool('dumpe2fs', ['-h', file]);
  return parseSuperblockCounts(stdout);
}

/** The longest run of blocks one ext4 extent maps. */
const EXTENT_MAX_BLOCKS = 32768;
/** Extents an inode holds itself, and per 4 KiB extent-tree block. */
const INODE_EXTENTS = 4;
const EXTENTS_PER_BLOCK = 340;

/**
 * Extent-tree blocks a file needs beyond its inode, an upper bound: each run of data
 * splits at the extent length limit, and an allocation may split once more at every
 * block group it crosses (group metadata sits between runs).
 */
export function extentTreeBlocks(runLengths: readonly number[]): number {
  const blocks = runLengths.reduce((sum, run) => sum + run, 0);
  let extents = runLengths.reduce((sum, run) => sum + Math.ceil(run / EXTENT_MAX_BLOCKS), 0) + Math.ceil(blocks / EXTENT_MAX_BLOCKS);
  let treeBlocks = 0;
  while (extents > INODE_EXTENTS) {
    extents = Math.ceil(extents / EXTENTS_PER_BLOCK);
    treeBlocks += extents;
  }
  return treeBlocks;
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);
/** One read buffer for every file: a fresh megabyte per file left the heap to the GC (+40 MB peak). */
const READ_BUFFER = Buffer.alloc(256 * BLOCK);

/**
 * The runs of data blocks mke2fs -d writes for a file: it skips blocks that are all
 * zero (they become holes), so only non-zero 4 KiB blocks count, and each stretch of
 * them is one run.
 */
function dataBlockRuns(path: string): number[] {
  const runs: number[] = [];
  const buffer = READ_BUFFER;
  const fd = openSync(path, 'r');
  try {
    let run = 0;
    for (;;) {
      const got = readSync(fd, buffer, 0, buffer.length, null);
      if (got === 0) break;
      for (let offset = 0; offset < got; offset += BLOCK) {
        const block = buffer.subarray(offset, Math.min(offset + BLOCK, got));
        if (block.equals(ZERO_BLOCK.subarray(0, block.length))) {
          if (run > 0) runs.push(run);
          run = 0;
        } else {
          run++;
        }
      }
    }
    if (run > 0) runs.push(run);
  } finally {
    closeSync(fd);
  }
  return runs;
}

/**
 * The smallest ext4 whose free blocks and inodes hold the tree with `spareBytes` still
 * free, without writing the tree's data: mke2fs -d of an attributes-only copy (same
 * names, directories, symlinks, hard links and inodes, empty files) gives the metadata
 * blocks and inodes; each distinct file adds its non-zero data blocks and, when large
 * or sparse, an upper bound of extent-tree blocks. Empty filesystems, which mke2fs
 * makes in milliseconds, are then bisected for the smallest size with that much free.
 * Scratch files stay inside `workDir` and go.
 */
async function predictedSize(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>, workDir: string, spareBytes: number): Promise<number> {
  const entries = await scanTree(build.sourceDir);
  const seen = new Set<string>();
  let dataBlocks = 0;
  for (const entry of entries) {
    if (entry.kind !== 'file' || entry.size === 0 || seen.has(entry.identity)) continue;
    seen.add(entry.identity);
    const runs = dataBlockRuns(join(build.sourceDir, entry.path));
    dataBlocks += runs.reduce((sum, run) => sum + run, 0) + extentTreeBlocks(runs);
  }
  const spareBlocks = Math.ceil(spareBytes / BLOCK);
  return withScratchDir(workDir, (dir) =>
    withScratchDir(metadataScratchRoot(dir), async (skeletonDir) => {
      const skeleton = join(skeletonDir, 'skeleton');
      await runTool('cp', ['-a', '--attributes-only', `${build.sourceDir}/.`, skeleton]);
      return smallestHolding(build, join(dir, 'probe.img'), skeleton, entries.length, dataBlocks, spareBlocks);
    }),
  );
}

/**
 * The bisection of predictedSize: the skeleton's metadata plus `dataBlocks`, with
 * `spareBlocks` free, in the smallest empty filesystem that has room for it.
 */
async function smallestHolding(
  build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>,
  probe: string,
  skeleton: string,
  entryCount: number,
  dataBlocks: number,
  spareBlocks: number,
): Promise<number> {
  const counts = async (sizeBytes: number, sourceDir: string | null): Promise<SuperblockCounts | null> => {
    await rm(probe, { force: true });
    await createSparseFile(probe, sizeBytes);
    try {
      await mke2fs({ ...build, output: probe, sizeBytes }, sourceDir);
    } catch (error) {
      if (error instanceof FilesystemTooSmallError) return null;
      throw error;
    }
    return superblockCounts(probe);
  };
  let generous = roundBlocks((entryCount + 16) * 16384 + 16 * 1024 * 1024);
  let full: SuperblockCounts | null;
  while (!(full = await counts(generous, skeleton))) generous *= 2;
  const empty = (await counts(generous, null))!;
  const treeBlocks = empty.freeBlocks - full.freeBlocks + dataBlocks;
  const treeInodes = empty.freeInodes - full.freeInodes;
  const holdsTree = async (blocks: number): Promise<boolean> => {
    const found = await counts(blocks * BLOCK, null);
    return found !== null && found.freeBlocks >= treeBlocks + spareBlocks && found.freeInodes >= treeInodes;
  };
  // A filesystem of no more blocks than the tree cannot hold it with room to spare;
  // metadata is a few percent, so start the search just above and double only if needed.
  let low = treeBlocks + spareBlocks;
  let high = Math.ceil((treeBlocks + spareBlocks) * 1.1) + 1024;
  while (!(await holdsTree(high))) [low, high] = [high, high * 2];
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await holdsTree(middle)) high = middle;
    else low = middle;
  }
  return high * BLOCK;
}

/**
 * The smallest ext4 for the tree, built: the predicted size, confirmed by a real build
 * (which becomes the output); if the tighter layout needs a few extent blocks more,
 * real builds step up a little and bisect back.
 */
async function createMinimal(build: Omit<FilesystemBuild, 'sizeBytes'>): Promise<number> {
  validate(build);
  assertOutsideSource(build.sourceDir, build.output);
  await assertAbsent(build.output);
  const need = await predictedSize(build, dirname(build.output), 0);
  return createSmallestBySearch({
    build,
    create,
    start: need,
    floor: need,
    granularity: BLOCK,
    grow: (size) => size + Math.max(8 * BLOCK, size / 512),
  });
}

function roundBlocks(bytes: number): number {
  return Math.ceil(bytes / BLOCK) * BLOCK;
}

async function check(file: string): Promise<string> {
  const { stdout, stderr } = await runTool('e2fsck', ['-f', '-n', file]);
  return stdout + stderr;
}

/** rdump of the root; lost+found comes along (empty, mode 0700), as on the mounted filesystem. */
async function extract(file: string, destDir: string): Promise<void> {
  destDir = resolve(destDir);
  if (destDir.includes('"')) throw new Error(`cannot extract into ${destDir}: debugfs cannot quote a path containing '"'`);
  const { stderr } = await runTool('debugfs', ['-R', `rdump / "${destDir}"`, file]);
  // rdump also copies owners, which only root may set; modes, links and contents are what verify needs.
  const complaints = stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^debugfs \d/.test(line) && !/Operation not permitted while changing ownership/.test(line));
  if (complaints.length > 0) throw new Error(`debugfs could not extract ${file}:\n${complaints.join('\n')}`);
}

export const ext4: Filesystem = {
  fsType: 'ext4',
  tools: [
    { command: 'mke2fs', debianPackage: 'e2fsprogs' },
    { command: 'debugfs', debianPackage: 'e2fsprogs' },
    { command: 'dumpe2fs', debianPackage: 'e2fsprogs' },
    { command: 'e2fsck', debianPackage: 'e2fsprogs' },
  ],
  minimumSize: (build, workDir, spareBytes = 0) => {
    validate(build);
    return predictedSize(build, workDir, spareBytes);
  },
  create,
  createMinimal,
  check,
  extract,
};
