/**
 * ext4 the way nixpkgs makes its root filesystem (FACTS §4.1): mke2fs formats it with 4
 * KiB blocks and e2fsprogs' compiled-in profile (MKE2FS_CONFIG points at a missing
 * file, as in the Nix sandbox), so the feature list is has_journal ext_attr
 * resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file
 * huge_file dir_nlink extra_isize metadata_csum with 256-byte inodes.
 *
 * The tree is not copied by `mke2fs -d`, which writes data a 4 KiB block at a time and
 * took twice as long as copying the closure: nixdisk fills the empty filesystem itself
 * (ext4/populate.ts), root-owned as nixpkgs' cptofs leaves it (FACTS §6.3), with times
 * pinned to the epoch when deterministic. Together with E2FSPROGS_FAKE_TIME (superblock
 * and journal times; e2fsprogs 1.47.0 ignores SOURCE_DATE_EPOCH), `-U` and `-E
 * hash_seed=`, equal trees give equal bytes, whenever and wherever they were copied.
 */
import { open, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { runTool, ToolFailedError } from '../../tools.js';
import {
  assertAbsent,
  assertEpochInRange,
  assertLabelFits,
  assertOutsideSource,
  createSmallestBySearch,
  createSparseFile,
  scanTree,
  withScratchDir,
  writingOutput,
  type TreeEntry,
} from './common.js';
import { contentBlocks, OutOfSpaceError, planPopulation } from './ext4/allocate.js';
import { parseSuperblock, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, type Superblock } from './ext4/geometry.js';
import { freeSpaceFromDumpe2fs, populateExt4, readExistingRoot } from './ext4/populate.js';
import { EXTENT_MAX_BLOCKS, extentTreeBlockCount } from './ext4/structures.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './filesystem.js';

const BLOCK = 4096;
/** nixpkgs' make-ext4-fs default, used when a deterministic build names no UUID. */
export const DEFAULT_DETERMINISTIC_UUID = '44444444-4444-4444-8888-888888888888';
const MISSING_MKE2FS_CONFIG = '/nonexistent/nixdisk/mke2fs.conf';
/** mke2fs refusing the size (the last two for sizes too small for any ext4). */
const TOO_SMALL = /Not enough space to build proposed filesystem|Device size reported to be zero|Illegal inode number while writing reserved inodes/;

function effectiveUuid(build: Pick<FilesystemBuild, 'uuid' | 'deterministic'>): string | null {
  return build.uuid ?? (build.deterministic ? DEFAULT_DETERMINISTIC_UUID : null);
}

function toolEnv(build: Pick<FilesystemBuild, 'deterministic' | 'epoch'>): Record<string, string> {
  const env: Record<string, string> = { MKE2FS_CONFIG: MISSING_MKE2FS_CONFIG };
  if (build.deterministic) env.E2FSPROGS_FAKE_TIME = String(build.epoch);
  return env;
}

/** The mke2fs arguments for one build; pure, so the flags can be tested against FACTS §4. */
export function mke2fsArgs(build: Pick<FilesystemBuild, 'label' | 'uuid' | 'deterministic' | 'output'>): string[] {
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
    build.output,
  ];
}

async function mke2fs(build: Omit<FilesystemBuild, 'sourceDir'>): Promise<void> {
  try {
    await runTool('mke2fs', mke2fsArgs(build), { env: toolEnv(build) });
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

function validate(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>): void {
  assertLabelFits('ext4', build.label);
  if (build.deterministic) assertEpochInRange(build.epoch);
}

/** mke2fs formats, nixdisk fills; a tree that does not fit is a FilesystemTooSmallError like mke2fs' own refusal. */
async function create(build: FilesystemBuild): Promise<void> {
  validate(build);
  const tree = build.tree ?? (await scanTree(build.sourceDir, build.grafts));
  await writingOutput(build, async () => {
    await createSparseFile(build.output, Math.floor(build.sizeBytes / BLOCK) * BLOCK);
    await mke2fs(build);
    try {
      await populateExt4({ image: build.output, tree, epoch: build.deterministic ? build.epoch : null, env: toolEnv(build) });
    } catch (error) {
      if (error instanceof OutOfSpaceError) throw new FilesystemTooSmallError('ext4', build.sizeBytes, error.message);
      throw error;
    }
  });
}

/** An empty filesystem of `blocks` blocks, or null when mke2fs finds that too small for any ext4. */
async function emptyFilesystem(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>, file: string, blocks: number): Promise<Superblock | null> {
  await rm(file, { force: true });
  await createSparseFile(file, blocks * BLOCK);
  try {
    await mke2fs({ ...build, output: file, sizeBytes: blocks * BLOCK });
  } catch (error) {
    if (error instanceof FilesystemTooSmallError) return null;
    throw error;
  }
  return readSuperblock(file);
}

async function readSuperblock(file: string): Promise<Superblock> {
  const handle = await open(file, 'r');
  try {
    const bytes = Buffer.alloc(SUPERBLOCK_SIZE);
    await handle.read(bytes, 0, SUPERBLOCK_SIZE, SUPERBLOCK_OFFSET);
    return parseSuperblock(bytes);
  } finally {
    await handle.close();
  }
}

/**
 * What the tree takes if every file's blocks are contiguous, a lower bound of the real
 * layout's; counted without building a plan, since it runs on every size search.
 */
export function contiguousDemand(tree: readonly TreeEntry[], blockSize: number): { blocks: number; inodes: number } {
  const directoryBytes = new Map<string, number[]>([['', [0]]]);
  const pack = (directory: string, nameLength: number) => {
    const blocks = directoryBytes.get(directory)!;
    const size = (8 + nameLength + 3) & ~3;
    if (blocks[blocks.length - 1]! + size > blockSize - 12) blocks.push(0);
    blocks[blocks.length - 1]! += size;
  };
  for (const name of ['.', '..', 'lost+found']) pack('', name.length);
  const seen = new Set<string>();
  let blocks = 0;
  let inodes = 0;
  for (const entry of tree) {
    const slash = entry.path.lastIndexOf('/');
    pack(slash === -1 ? '' : entry.path.slice(0, slash), Buffer.byteLength(entry.path) - Buffer.byteLength(entry.path.slice(0, slash + 1)));
    if (entry.kind === 'directory') {
      directoryBytes.set(entry.path, [0]);
      pack(entry.path, 1);
      pack(entry.path, 2);
    } else if (seen.has(entry.identity)) {
      continue;
    } else {
      seen.add(entry.identity);
    }
    inodes++;
    const content = contentBlocks(entry, blockSize);
    blocks += content + extentTreeBlockCount(Math.ceil(content / EXTENT_MAX_BLOCKS), blockSize);
  }
  for (const [path, directoryBlocks] of directoryBytes) blocks += directoryBlocks.length - (path === '' ? 1 : 0);
  return { blocks, inodes };
}

/**
 * The smallest ext4 that holds the tree with `spareBytes` free, without writing the
 * tree: empty filesystems (milliseconds each) are probed from the tree's contiguous
 * demand upwards, each step adding what the last one lacked, which converges on the
 * smallest size whose free blocks and inodes suffice. At that size the real layout is
 * planned against mke2fs' actual free space, and grown by what it still lacks.
 */
async function predictedSize(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>, workDir: string, spareBytes: number): Promise<number> {
  const tree = build.tree ?? (await scanTree(build.sourceDir, build.grafts));
  const demand = contiguousDemand(tree, BLOCK);
  const spareBlocks = Math.ceil(spareBytes / BLOCK);
  return withScratchDir(workDir, async (dir) => {
    const probe = join(dir, 'probe.img');
    const fits = async (blocks: number): Promise<{ lacking: number; exact: boolean } | null> => {
      const empty = await emptyFilesystem(build, probe, blocks);
      // Below mke2fs' smallest ext4 (60 blocks with e2fsprogs 1.47): step up by a guess.
      if (empty === null) return { lacking: Math.max(16, Math.ceil(blocks / 16)), exact: false };
      const lackingBlocks = demand.blocks + spareBlocks - empty.freeBlocks;
      if (demand.inodes > empty.freeInodes) {
        const forInodes = Math.ceil((blocks * demand.inodes) / Math.max(1, empty.freeInodes));
        return { lacking: Math.max(lackingBlocks, forInodes - blocks, 1), exact: false };
      }
      if (lackingBlocks > 0) return { lacking: lackingBlocks, exact: true };
      const lacking = await realShortfall(probe, tree, spareBlocks, build);
      return lacking === 0 ? null : { lacking, exact: true };
    };
    // Each exact step adds just what the last size lacked, so from below it lands on
    // the smallest size that fits; after a guessed step, bisect back to it.
    let failed = 0;
    let blocks = Math.max(1, demand.blocks + spareBlocks);
    let guessed = false;
    for (let missing = await fits(blocks); missing !== null; missing = await fits(blocks)) {
      failed = blocks;
      blocks += missing.lacking;
      guessed ||= !missing.exact;
    }
    if (guessed) {
      while (blocks - failed > 1) {
        const middle = Math.floor((failed + blocks) / 2);
        if ((await fits(middle)) === null) blocks = middle;
        else failed = middle;
      }
    }
    return blocks * BLOCK;
  });
}

/** Blocks the tree plus the spare lack in the empty filesystem `file` once laid out for real (fragmentation can add extent-tree blocks). */
async function realShortfall(file: string, tree: readonly TreeEntry[], spareBlocks: number, build: Pick<FilesystemBuild, 'deterministic' | 'epoch'>): Promise<number> {
  const { stdout } = await runTool('dumpe2fs', [file], { env: toolEnv(build) });
  const free = freeSpaceFromDumpe2fs(stdout);
  const superblock = await readSuperblock(file);
  try {
    const plan = planPopulation(tree, free, await readExistingRoot(file), BLOCK);
    return Math.max(0, plan.blocksUsed + spareBlocks - superblock.freeBlocks);
  } catch (error) {
    if (error instanceof OutOfSpaceError) return Math.max(1, error.missingBlocks + spareBlocks);
    throw error;
  }
}

/**
 * The smallest ext4 for the tree, built: the predicted size (exact, see predictedSize),
 * with the usual search as a safety net should a build at it still fail.
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
  readsGrafts: true,
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
