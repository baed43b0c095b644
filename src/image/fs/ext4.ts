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
import { open, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runTool, ToolFailedError } from '../../tools.js';
import { assertEpochInRange, assertLabelFits, createSparseFile, fittedSize, withScratchDir, writingOutput } from './common.js';
import { isSecondName, scanTree, type TreeEntry } from './tree.js';
import { contentBlocks, OutOfSpaceError } from './ext4/allocate.js';
import { parseSuperblock, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, type Superblock } from './ext4/geometry.js';
import { layOutExt4, mke2fsData, treeRanges, writeExt4, type Ext4Layout } from './ext4/populate.js';
import { directoryEntrySize, directoryRoom, EXTENT_MAX_BLOCKS, extentTreeBlockCount } from './ext4/structures.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild, type Fit, type PendingFilesystem } from './filesystem.js';
import { mergedRanges, type ByteRange } from '../disk/host-map.js';

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

/** mke2fs formats, nixdisk plans; a tree that does not fit is a FilesystemTooSmallError like mke2fs' own refusal. */
async function prepare(build: FilesystemBuild): Promise<PendingFilesystem> {
  validate(build);
  const tree = build.tree ?? (await scanTree(build.sourceDir, build.grafts, build.graftDir));
  return writingOutput(build, async () => {
    await createSparseFile(build.output, Math.floor(build.sizeBytes / BLOCK) * BLOCK);
    await mke2fs(build);
    try {
      return pending(await layOutExt4(build.output, tree, toolEnv(build)), epochOf(build));
    } catch (error) {
      if (error instanceof OutOfSpaceError) throw new FilesystemTooSmallError('ext4', build.sizeBytes, error.message);
      throw error;
    }
  });
}

function pending(layout: Ext4Layout, epoch: number | null): PendingFilesystem {
  let fromMke2fs: Promise<ByteRange[]> | undefined;
  const mke2fsBytes = () => (fromMke2fs ??= mke2fsData(layout));
  return {
    file: layout.image,
    sizeBytes: layout.sizeBytes,
    ranges: async () => mergedRanges([...(await mke2fsBytes()), ...treeRanges(layout)]),
    fill: async (target) => writeExt4(layout, epoch, target, target.path === layout.image ? [] : await mke2fsBytes()),
  };
}

function epochOf(build: Pick<FilesystemBuild, 'deterministic' | 'epoch'>): number | null {
  return build.deterministic ? build.epoch : null;
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
  // Packed as encodeDirectory packs: an entry never straddles two blocks.
  const pack = (directory: string, nameLength: number) => {
    const blocks = directoryBytes.get(directory)!;
    const size = directoryEntrySize(nameLength);
    if (blocks[blocks.length - 1]! + size > directoryRoom(blockSize)) blocks.push(0);
    blocks[blocks.length - 1]! += size;
  };
  for (const name of ['.', '..', 'lost+found']) pack('', name.length);
  const seen = new Set<string>();
  let blocks = 0;
  let inodes = 0;
  for (const entry of tree) {
    const slash = entry.path.lastIndexOf('/');
    pack(slash === -1 ? '' : entry.path.slice(0, slash), Buffer.byteLength(entry.path.slice(slash + 1)));
    if (entry.kind === 'directory') {
      directoryBytes.set(entry.path, [0]);
      pack(entry.path, 1);
      pack(entry.path, 2);
    } else if (isSecondName(entry, seen)) {
      continue;
    }
    inodes++;
    const content = contentBlocks(entry, blockSize);
    blocks += content + extentTreeBlockCount(Math.ceil(content / EXTENT_MAX_BLOCKS), blockSize);
  }
  for (const [path, directoryBlocks] of directoryBytes) blocks += directoryBlocks.length - (path === '' ? 1 : 0);
  return { blocks, inodes };
}

type Demand = ReturnType<typeof contiguousDemand>;

/** Whether the tree fits an empty filesystem with spare blocks left: its layout, or how many blocks it lacks. */
type Probe = { fits: true; layout: Ext4Layout } | Shortfall;
type Shortfall = { fits: false; lacking: number; exact: boolean };

/**
 * Formats `file` empty at `blocks` blocks and checks the tree against it: first the
 * superblock's free counts against the contiguous demand (milliseconds), then, when
 * those suffice, the real layout against mke2fs' free space (fragmentation can add
 * extent-tree blocks). `lacking` is exact when it counts blocks the size lacked; it is
 * a guess when inodes decide (their number grows with the size in steps) or when mke2fs
 * refuses a size that small.
 */
async function probe(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>, file: string, blocks: number, tree: readonly TreeEntry[], demand: Demand, spareBlocks: number): Promise<Probe> {
  const counted = await formattedEmpty(build, file, blocks, demand, spareBlocks);
  return counted.fits ? laidOut(build, file, tree, spareBlocks) : counted;
}

/** The first half of a probe: formats `file` empty and compares its free counts with the demand. */
async function formattedEmpty(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>, file: string, blocks: number, demand: Demand, spareBlocks: number): Promise<{ fits: true } | Shortfall> {
  const empty = await emptyFilesystem(build, file, blocks);
  // Below mke2fs' smallest ext4 (60 blocks with e2fsprogs 1.47): step up by a guess.
  if (empty === null) return { fits: false, lacking: Math.max(16, Math.ceil(blocks / 16)), exact: false };
  const lackingBlocks = demand.blocks + spareBlocks - empty.freeBlocks;
  if (demand.inodes > empty.freeInodes) {
    const forInodes = Math.ceil((blocks * demand.inodes) / Math.max(1, empty.freeInodes));
    return { fits: false, lacking: Math.max(lackingBlocks, forInodes - blocks, 1), exact: false };
  }
  return lackingBlocks > 0 ? { fits: false, lacking: lackingBlocks, exact: true } : { fits: true };
}

/** The second half of a probe: the tree's real layout in the empty filesystem `file`. */
async function laidOut(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>, file: string, tree: readonly TreeEntry[], spareBlocks: number): Promise<Probe> {
  try {
    const layout = await layOutExt4(file, tree, toolEnv(build));
    const shortfall = layout.population.blocksUsed + spareBlocks - layout.freeBlocks;
    return shortfall > 0 ? { fits: false, lacking: shortfall, exact: true } : { fits: true, layout };
  } catch (error) {
    if (error instanceof OutOfSpaceError) return { fits: false, lacking: Math.max(1, error.missingBlocks + spareBlocks), exact: true };
    throw error;
  }
}

/**
 * The smallest ext4 that holds the tree with `spareBytes` free, without writing the
 * tree: empty filesystems (milliseconds each) are probed from the tree's contiguous
 * demand upwards, each step adding what the last one lacked, which converges on the
 * smallest size that fits, since a size that lacks n blocks cannot be helped by fewer
 * than n more. After a guessed step, it bisects back.
 */
async function predictedSize(build: Omit<FilesystemBuild, 'sizeBytes' | 'output'>, workDir: string, spareBytes: number): Promise<number> {
  const tree = build.tree ?? (await scanTree(build.sourceDir, build.grafts, build.graftDir));
  const demand = contiguousDemand(tree, BLOCK);
  const spareBlocks = Math.ceil(spareBytes / BLOCK);
  return withScratchDir(workDir, async (dir) => {
    const fits = (blocks: number) => probe(build, join(dir, 'probe.img'), blocks, tree, demand, spareBlocks);
    let failed = 0;
    let blocks = Math.max(1, demand.blocks + spareBlocks);
    let guessed = false;
    for (let result = await fits(blocks); !result.fits; result = await fits(blocks)) {
      failed = blocks;
      blocks += result.lacking;
      guessed ||= !result.exact;
    }
    if (guessed) {
      while (blocks - failed > 1) {
        const middle = Math.floor((failed + blocks) / 2);
        if ((await fits(middle)).fits) blocks = middle;
        else failed = middle;
      }
    }
    return blocks * BLOCK;
  });
}

/** Exact steps prepareFitting takes before it leaves the size to predictedSize; one or two are the rule. */
const FITTING_STEPS = 4;

/**
 * The filesystem at the smallest of the sizes the Fit allows that holds the tree with
 * its spare bytes free: probing at the allowed sizes themselves, the probe that fits is
 * the filesystem, so the tree is planned once and the size costs a few mke2fs runs.
 *
 * After the first probe (at the tree's own demand, short by mke2fs' metadata), each
 * step also formats the next allowed size, in a file beside, on the other core: the
 * step's own size is then often short by a few blocks only, and the next size answers
 * at once instead of after another round.
 */
async function prepareFitting(build: Omit<FilesystemBuild, 'sizeBytes'>, fit: Fit): Promise<PendingFilesystem> {
  validate(build);
  const tree = build.tree ?? (await scanTree(build.sourceDir, build.grafts, build.graftDir));
  const demand = contiguousDemand(tree, BLOCK);
  const { spareBytes, workDir } = fit;
  const sizeFor = (neededBytes: number) => fittedSize(fit, neededBytes);
  const spareBlocks = Math.ceil(spareBytes / BLOCK);
  const beside = `${build.output}.next`;
  return writingOutput(build, async () => {
    try {
      const blocksOf = (size: number) => Math.floor(size / BLOCK);
      // A size that lacks n blocks is not helped by fewer than n more, so no allowed size
      // below it plus n fits: stepping there never skips the smallest allowed size that does.
      let size = sizeFor((demand.blocks + spareBlocks) * BLOCK);
      for (let step = 0; step < FITTING_STEPS; step++) {
        const next = sizeFor(size + 1);
        const [here, there] = await Promise.all([
          formattedEmpty(build, build.output, blocksOf(size), demand, spareBlocks),
          step > 0 ? formattedEmpty(build, beside, blocksOf(next), demand, spareBlocks) : null,
        ]);
        let result: Probe;
        if (here.fits) {
          result = await laidOut(build, build.output, tree, spareBlocks);
        } else if (there?.fits && here.exact && sizeFor((blocksOf(size) + here.lacking) * BLOCK) === next) {
          await rename(beside, build.output);
          size = next;
          result = await laidOut(build, build.output, tree, spareBlocks);
        } else {
          result = here;
        }
        if (result.fits) return pending(result.layout, epochOf(build));
        if (!result.exact) break;
        size = sizeFor((blocksOf(size) + result.lacking) * BLOCK);
      }
      size = sizeFor(await predictedSize({ ...build, tree }, workDir, spareBytes));
      const result = await probe(build, build.output, blocksOf(size), tree, demand, spareBlocks);
      if (!result.fits) throw new FilesystemTooSmallError('ext4', size, `the tree still lacks ${result.lacking} blocks at the predicted size`);
      return pending(result.layout, epochOf(build));
    } finally {
      await rm(beside, { force: true });
    }
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
  size: async (build, fit) => {
    validate(build);
    return fittedSize(fit, await predictedSize(build, fit.workDir, fit.spareBytes));
  },
  write: (request) => {
    const { sizeBytes } = request;
    return typeof sizeBytes === 'number' ? prepare({ ...request, sizeBytes }) : prepareFitting(request, sizeBytes);
  },
  check,
  extract,
};
