/**
 * Fills an empty ext4 that mke2fs just made with a source tree, the way `mke2fs -d`
 * would but without writing the data one 4 KiB block at a time: the layout is planned
 * in memory (allocate.ts), the metadata written in a few large writes while two
 * threads copy the file data in big chunks (copy-data.ts). Every inode is root-owned
 * unless its tree entry names an owner (a full image's `contents`);
 * times are pinned to the epoch, or the source's when the build is not deterministic.
 *
 * The free blocks and inodes come from dumpe2fs, which knows which groups mke2fs left
 * uninitialised; groups nixdisk writes into get real bitmaps and lose their UNINIT flags,
 * the others stay as mke2fs left them. The superblock and descriptor table are updated
 * in every copy, backups included, as e2fsprogs would on closing the filesystem.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { currentCancelSignal, runTool } from '../../../tools.js';
import { mergedRanges, writeMapped, type ByteRange, type HostMap, type MappedTarget } from '../../disk/host-map.js';
import { copyRanges, dataRanges } from '../../disk/sparse-copy.js';
import type { TreeEntry } from '../tree.js';
import { planPopulation, plannedInode, plannedInodes, ROOT_INODE, FAST_SYMLINK_MAX, type ExistingRoot, type FreeSpace, type PlannedInode, type Population, type Runs } from './allocate.js';
import { startCopyThread, startFileCopy, type CopyJob, type FileCopy } from './copy-data.js';
import { crc32c } from './crc32c.js';
import {
  GROUP_FLAG,
  hasSuperblockBackup,
  parseGroupDescriptors,
  parseSuperblock,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  updatedGroupDescriptors,
  updatedSuperblock,
  type GroupDescriptor,
  type Superblock,
} from './geometry.js';
import {
  encodeDirectory,
  encodeExtentTree,
  encodeInode,
  EXTENT_MAGIC,
  I_BLOCK_SIZE,
  INODE_FLAG_EXTENTS,
  type DirectoryEntry,
  type InodeFields,
  type Timestamps,
} from './structures.js';

/** The free block and inode runs of every group, from `dumpe2fs` (not -h) output; pure. */
export function freeSpaceFromDumpe2fs(output: string): FreeSpace {
  const runs = (what: 'blocks' | 'inodes'): Runs => {
    const found: [number, number][] = [];
    for (const match of output.matchAll(new RegExp(`^[ \\t]+Free ${what}:[ \\t]*(.*)$`, 'gm'))) {
      for (const part of match[1]!.split(',')) {
        const range = part.trim();
        if (range === '') continue;
        const [first, last = first] = range.split('-').map(Number) as [number, number?];
        found.push([first, last]);
      }
    }
    return found.sort((a, b) => a[0] - b[0]);
  };
  return { blocks: runs('blocks'), inodes: runs('inodes') };
}

/** Reads what mke2fs wrote; writes, through a map, wherever the filesystem is going (which may be the same file). */
class Image {
  constructor(
    private readonly fd: number,
    private readonly target: { fd: number; map: HostMap } | null = null,
  ) {}
  read(offset: number, length: number): Buffer {
    const bytes = Buffer.alloc(length);
    if (readSync(this.fd, bytes, 0, length, offset) !== length) throw new Error(`short read at ${offset} of the ext4 image`);
    return bytes;
  }
  write(offset: number, bytes: Buffer): void {
    if (this.target === null) throw new Error('internal: the ext4 image was opened for reading only');
    writeMapped({ writeSync }, this.target.fd, this.target.map, bytes, 0, bytes.length, offset);
  }
}

interface Filesystem {
  image: Image;
  superblock: Superblock;
  groups: GroupDescriptor[];
  descriptorTable: Buffer;
}

function inodeOffset(fs: Filesystem, ino: number): number {
  const { superblock } = fs;
  const group = Math.floor((ino - 1) / superblock.inodesPerGroup);
  return fs.groups[group]!.inodeTable * superblock.blockSize + ((ino - 1) % superblock.inodesPerGroup) * superblock.inodeSize;
}

/** The root directory mke2fs made: its one block and the entries in it (lost+found). */
function existingRoot(fs: Filesystem): { root: ExistingRoot; mode: number } {
  const { superblock } = fs;
  const inode = fs.image.read(inodeOffset(fs, ROOT_INODE), superblock.inodeSize);
  const header = inode.subarray(0x28);
  if (header.readUInt16LE(0) !== EXTENT_MAGIC || header.readUInt16LE(2) !== 1 || header.readUInt16LE(6) !== 0 || header.readUInt16LE(12 + 4) !== 1) {
    throw new Error('the root directory mke2fs made is not the single block nixdisk expects');
  }
  const block = header.readUInt32LE(12 + 8) + header.readUInt16LE(12 + 6) * 2 ** 32;
  const bytes = fs.image.read(block * superblock.blockSize, superblock.blockSize);
  const entries: DirectoryEntry[] = [];
  for (let at = 0; at < bytes.length; ) {
    const ino = bytes.readUInt32LE(at);
    const recordLength = bytes.readUInt16LE(at + 4);
    const name = bytes.toString('utf8', at + 8, at + 8 + bytes.readUInt8(at + 6));
    const fileType = bytes.readUInt8(at + 7);
    if (recordLength < 8) break;
    if (ino !== 0 && name !== '.' && name !== '..') entries.push({ name, ino, fileType });
    at += recordLength;
  }
  return { root: { block, entries }, mode: inode.readUInt16LE(0) };
}

/** Every inode's times: one shared set when pinned, else the source's (with creation now). */
function timesFor(epoch: number | null, now: number): (entry: TreeEntry | null) => Timestamps {
  if (epoch !== null) {
    const pinned = { atime: epoch, ctime: epoch, mtime: epoch, crtime: epoch };
    return () => pinned;
  }
  return (entry) => (entry === null ? { atime: now, ctime: now, mtime: now, crtime: now } : { ...entry.times, crtime: now });
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** Linux's device number in i_block: the old 16-bit form when it fits, as mke2fs writes it. */
function deviceBlock(rdev: number, block: Buffer): Buffer {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 2 ** 12) & ~0xff);
  if (major < 256 && minor < 256) block.writeUInt32LE(major * 256 + minor, 0);
  else block.writeUInt32LE(((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, 4);
  return block;
}

/** Encodes one planned inode and queues the blocks that belong to it (directory, symlink, extent-tree blocks). */
function encodePlanned(fs: Filesystem, planned: PlannedInode, rootMode: number, times: Timestamps, blockWrites: BlockWriter, scratch: Scratch, into: Buffer): void {
  const { superblock } = fs;
  const { blockSize } = superblock;
  const entry = planned.entry;
  let mode: number;
  let size: number;
  /** What the extents map besides file data, which copy-data.ts writes. */
  let contentBlocks: Buffer[] = [];
  let inlineBlock: Buffer | null = null;
  if (planned.directory) {
    contentBlocks = encodeDirectory(planned.directory, planned.ino, superblock.checksumSeed, blockSize, scratch.take);
    mode = entry ? S_IFDIR | entry.mode : rootMode;
    size = contentBlocks.length * blockSize;
  } else if (entry!.kind === 'file') {
    mode = S_IFREG | entry!.mode;
    size = entry!.size;
  } else if (entry!.kind === 'symlink') {
    const target = Buffer.from(entry!.linkTarget!);
    mode = S_IFLNK | entry!.mode;
    size = target.length;
    if (target.length > FAST_SYMLINK_MAX) {
      contentBlocks = [scratch.take(blockSize)];
      target.copy(contentBlocks[0]!);
    } else {
      inlineBlock = scratch.take(I_BLOCK_SIZE);
      target.copy(inlineBlock);
    }
  } else {
    mode = entry!.format | entry!.mode;
    size = 0;
    inlineBlock = deviceBlock(entry!.rdev, scratch.take(I_BLOCK_SIZE));
  }
  let block = inlineBlock;
  if (block === null) {
    const tree = encodeExtentTree(planned.extents, planned.treeBlocks, planned.ino, superblock.checksumSeed, blockSize, scratch.take);
    // Content first: the tree blocks were allocated after it, so the writes stay in ascending order.
    let logical = 0;
    for (const extent of planned.extents) {
      for (let i = 0; i < extent.length && logical < contentBlocks.length; i++) blockWrites.put(extent.physical + i, contentBlocks[logical++]!);
    }
    for (const node of tree.blocks) blockWrites.put(node.block, node.bytes);
    block = tree.root;
  }
  const fields: InodeFields = {
    mode,
    size,
    links: planned.links,
    blocks: planned.dataBlocks + planned.treeBlocks.length,
    flags: inlineBlock === null ? INODE_FLAG_EXTENTS : 0,
    block,
    times,
    owner: entry?.owner,
  };
  encodeInode(fields, planned.ino, superblock.inodeSize, superblock.checksumSeed, blockSize, into);
}

/** Bit `index` of a bitmap. */
function setBit(bitmap: Uint8Array, index: number): void {
  bitmap[index >>> 3]! |= 1 << (index & 7);
}
function isSet(bitmap: Uint8Array, index: number): boolean {
  return (bitmap[index >>> 3]! & (1 << (index & 7))) !== 0;
}

/** A whole-filesystem bitmap with everything used except the free runs. */
function usedBitmap(count: number, free: Runs, firstNumber: number): Uint8Array {
  const bitmap = new Uint8Array(Math.ceil(count / 8)).fill(0xff);
  for (const [first, last] of free) {
    for (let n = first; n <= last; n++) bitmap[(n - firstNumber) >>> 3]! &= ~(1 << ((n - firstNumber) & 7));
  }
  return bitmap;
}

/**
 * The group's bitmap block: `bits` entries taken from the whole-filesystem bitmap
 * starting at `first`, entries past `available` and the rest of the block set (the
 * padding e2fsck expects).
 */
function groupBitmap(whole: Uint8Array, first: number, bits: number, available: number, blockSize: number): { block: Buffer; free: number; highestUsed: number } {
  const block = Buffer.alloc(blockSize, 0xff);
  block.fill(0, 0, Math.ceil(bits / 8));
  let free = 0;
  let highestUsed = -1;
  for (let i = 0; i < bits; i++) {
    if (i >= available || isSet(whole, first + i)) {
      setBit(block, i);
      if (i < available) highestUsed = i;
    } else {
      free++;
    }
  }
  return { block, free, highestUsed };
}

function openFilesystem(image: Image): Filesystem & { superblockBytes: Buffer } {
  const superblockBytes = image.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
  const superblock = parseSuperblock(superblockBytes);
  const tableOffset = (superblock.firstDataBlock + 1) * superblock.blockSize;
  const descriptorTable = image.read(tableOffset, superblock.groupCount * superblock.descriptorSize);
  return { image, superblock, groups: parseGroupDescriptors(descriptorTable, superblock), descriptorTable, superblockBytes };
}

/** Where a tree goes in one empty filesystem: planned against the free space mke2fs left there. */
export interface Ext4Layout {
  /** The file mke2fs formatted. */
  image: string;
  sizeBytes: number;
  blockSize: number;
  free: FreeSpace;
  population: Population;
  /** The empty filesystem's free blocks, from its superblock. */
  freeBlocks: number;
  rootMode: number;
}

/** Plans `tree` into the empty filesystem in `image`; throws OutOfSpaceError when it does not fit. */
export async function layOutExt4(image: string, tree: readonly TreeEntry[], env?: Record<string, string>): Promise<Ext4Layout> {
  const { stdout } = await runTool('dumpe2fs', [image], { env });
  const free = freeSpaceFromDumpe2fs(stdout);
  // The plan takes this thread for a while, and the copy that follows needs a second one.
  startCopyThread();
  return withFilesystem(image, (fs) => {
    const { root, mode: rootMode } = existingRoot(fs);
    const { blockSize, blocksCount, freeBlocks } = fs.superblock;
    return { image, sizeBytes: blocksCount * blockSize, blockSize, free, population: planPopulation(tree, free, root, blockSize), freeBlocks, rootMode };
  });
}

/** The formatted file opened for reading. */
function withFilesystem<T>(image: string, use: (fs: Filesystem & { superblockBytes: Buffer }) => T): T {
  const fd = openSync(image, 'r');
  try {
    return use(openFilesystem(new Image(fd)));
  } finally {
    closeSync(fd);
  }
}

/**
 * What mke2fs wrote that is not zeros: the blocks in use in the empty filesystem that
 * the file stores, read back (inode tables and journal that mke2fs left to lazy
 * initialisation are holes, or zeros, and are left out). A target other than the
 * formatted file needs these copied first.
 */
export async function mke2fsData(layout: Ext4Layout): Promise<ByteRange[]> {
  const { blockSize } = layout;
  const inUse: [number, number][] = [];
  let next = 0;
  for (const [first, last] of layout.free.blocks) {
    if (first > next) inUse.push([next * blockSize, first * blockSize]);
    next = last + 1;
  }
  if (next * blockSize < layout.sizeBytes) inUse.push([next * blockSize, layout.sizeBytes]);
  return dataRanges(layout.image, inUse);
}

/**
 * Every byte range writeExt4 writes besides mke2fs' data: the planned inodes' slots,
 * the bitmaps, superblock and descriptor copies, directory, symlink, extent-tree and
 * data blocks. With mke2fsData, what a qcow2 holding the filesystem allocates.
 */
export function treeRanges(layout: Ext4Layout): ByteRange[] {
  return withFilesystem(layout.image, (fs) => {
    const { blockSize, inodeSize } = fs.superblock;
    const ranges: ByteRange[] = [];
    const blocks = (first: number, count: number) => ranges.push([first * blockSize, (first + count) * blockSize]);
    for (const planned of plannedInodes(layout.population)) {
      const at = inodeOffset(fs, planned.ino);
      ranges.push([at, at + inodeSize]);
      for (const extent of planned.extents) blocks(extent.physical, extent.length);
      for (const block of planned.treeBlocks) blocks(block, 1);
    }
    for (const group of fs.groups) {
      blocks(group.blockBitmap, 1);
      blocks(group.inodeBitmap, 1);
    }
    for (const copy of superblockCopies(fs.superblock)) {
      ranges.push([copy.superblockAt, copy.superblockAt + SUPERBLOCK_SIZE], [copy.tableAt, copy.tableAt + fs.descriptorTable.length]);
    }
    return mergedRanges(ranges);
  });
}

/**
 * Writes a laid-out tree into the empty filesystem it was planned for, through
 * `target` (the formatted file itself, or a disk image holding it); times are the
 * epoch's, or the sources' when null. A target in another file gets `fromMke2fs`
 * (mke2fsData) copied over first, which the tree's metadata then updates.
 */
export async function writeExt4(layout: Ext4Layout, epoch: number | null, target: MappedTarget, fromMke2fs: readonly ByteRange[]): Promise<void> {
  const targetFd = openSync(target.path, 'r+');
  try {
    const sourceFd = openSync(layout.image, 'r');
    let copy: FileCopy;
    try {
      if (target.path !== layout.image) await copyRanges(sourceFd, fromMke2fs, targetFd, target.map);
      const fs = openFilesystem(new Image(sourceFd, { fd: targetFd, map: target.map }));
      const { population } = layout;
      // The data goes to blocks the plan fixed, so the copy need not wait for the metadata.
      copy = startFileCopy(target, fs.superblock.blockSize, { [Symbol.iterator]: () => copyJobs(population) }, currentCancelSignal());
      try {
        writeMetadata(fs, population, layout.free, layout.rootMode, epoch);
      } catch (error) {
        await copy.cancel();
        throw error;
      }
    } finally {
      closeSync(sourceFd);
    }
    await copy.finish();
  } finally {
    closeSync(targetFd);
  }
}

/** The regular files with contents, in inode order (which is disk order). */
function* copyJobs(population: Population): Generator<CopyJob> {
  for (let index = 0; index < population.count; index++) {
    const entry = population.entry[index];
    if (entry?.kind === 'file' && entry.size > 0) yield { source: entry.source, size: entry.size, extents: plannedInode(population, index).extents };
  }
}

/** Writes inodes, directory and tree blocks, bitmaps, descriptors and superblocks. */
function writeMetadata(fs: Filesystem & { superblockBytes: Buffer }, population: Population, free: FreeSpace, rootMode: number, epoch: number | null): void {
  const { superblock, image, superblockBytes } = fs;
  const { blockSize, inodesPerGroup, blocksPerGroup } = superblock;
  const timesOf = timesFor(epoch, Math.floor(Date.now() / 1000));
  const blockWrites = new BlockWriter(image, blockSize);
  const blocksInUse = usedBitmap(superblock.blocksCount, free.blocks, 0);
  const inodesInUse = usedBitmap(superblock.inodesCount, free.inodes, 1);
  const touchedBlockGroups = new Set<number>();
  const touchedInodeGroups = new Set<number>();
  const newDirectories = new Map<number, number>();

  const claim = (first: number, count: number) => {
    for (let block = first; block < first + count; block++) setBit(blocksInUse, block);
    const groupOf = (block: number) => Math.floor((block - superblock.firstDataBlock) / blocksPerGroup);
    for (let group = groupOf(first); group <= groupOf(first + count - 1); group++) touchedBlockGroups.add(group);
  };
  const scratch = new Scratch(MAX_BLOCKS_PER_WRITE * blockSize);
  const tableBuffer = Buffer.alloc(MAX_INODES_PER_WRITE * superblock.inodeSize);
  // Inodes go out as one write per run of consecutive numbers within a group (in pieces of a bounded size).
  for (const [first, end] of inodeRuns(population.ino, inodesPerGroup, MAX_INODES_PER_WRITE)) {
    const table = tableBuffer.subarray(0, (end - first) * superblock.inodeSize).fill(0);
    for (let index = 0; index < end - first; index++) {
      const planned = plannedInode(population, first + index);
      scratch.reset();
      encodePlanned(fs, planned, rootMode, timesOf(planned.entry), blockWrites, scratch, table.subarray(index * superblock.inodeSize, (index + 1) * superblock.inodeSize));
      if (planned.ino !== ROOT_INODE) {
        const group = Math.floor((planned.ino - 1) / inodesPerGroup);
        setBit(inodesInUse, planned.ino - 1);
        touchedInodeGroups.add(group);
        if (planned.directory) newDirectories.set(group, (newDirectories.get(group) ?? 0) + 1);
      }
      for (const extent of planned.extents) claim(extent.physical, extent.length);
      for (const block of planned.treeBlocks) claim(block, 1);
    }
    image.write(inodeOffset(fs, population.ino[first]!), table);
  }
  blockWrites.flush();

  const groups = fs.groups.map((group, index) => {
    let updated = group;
    if (touchedBlockGroups.has(index)) {
      const first = superblock.firstDataBlock + index * blocksPerGroup;
      const bitmap = groupBitmap(blocksInUse, first, blocksPerGroup, Math.min(blocksPerGroup, superblock.blocksCount - first), blockSize);
      image.write(group.blockBitmap * blockSize, bitmap.block);
      updated = {
        ...updated,
        freeBlocks: bitmap.free,
        flags: updated.flags & ~GROUP_FLAG.blockUninit,
        blockBitmapChecksum: crc32c(superblock.checksumSeed, bitmap.block.subarray(0, blocksPerGroup / 8)),
      };
    }
    if (touchedInodeGroups.has(index)) {
      const bitmap = groupBitmap(inodesInUse, index * inodesPerGroup, inodesPerGroup, inodesPerGroup, blockSize);
      image.write(group.inodeBitmap * blockSize, bitmap.block);
      updated = {
        ...updated,
        freeInodes: bitmap.free,
        usedDirs: group.usedDirs + (newDirectories.get(index) ?? 0),
        flags: updated.flags & ~GROUP_FLAG.inodeUninit,
        itableUnused: inodesPerGroup - (bitmap.highestUsed + 1),
        inodeBitmapChecksum: crc32c(superblock.checksumSeed, bitmap.block.subarray(0, inodesPerGroup / 8)),
      };
    }
    return updated;
  });
  const table = updatedGroupDescriptors(fs.descriptorTable, superblock, groups);
  const counts = {
    freeBlocks: groups.reduce((sum, group) => sum + group.freeBlocks, 0),
    freeInodes: groups.reduce((sum, group) => sum + group.freeInodes, 0),
  };
  for (const { superblockAt, tableAt } of superblockCopies(superblock)) {
    const current = superblockAt === SUPERBLOCK_OFFSET ? superblockBytes : image.read(superblockAt, SUPERBLOCK_SIZE);
    image.write(superblockAt, updatedSuperblock(current, counts));
    image.write(tableAt, table);
  }
}

/** Where the superblock and the group descriptor table are kept: group 0 and the sparse_super backups. */
function superblockCopies(superblock: Superblock): { superblockAt: number; tableAt: number }[] {
  const { blockSize, blocksPerGroup, firstDataBlock } = superblock;
  const copies = [{ superblockAt: SUPERBLOCK_OFFSET, tableAt: (firstDataBlock + 1) * blockSize }];
  for (let group = 1; group < superblock.groupCount; group++) {
    if (!hasSuperblockBackup(group, superblock.sparseSuper)) continue;
    const groupStart = (firstDataBlock + group * blocksPerGroup) * blockSize;
    copies.push({ superblockAt: groupStart, tableAt: groupStart + blockSize });
  }
  return copies;
}

/** The inode numbers (ascending) cut into runs of consecutive numbers, at most `longest` long, that do not cross a group, as [first, end) index pairs. */
function inodeRuns(inodes: Uint32Array, inodesPerGroup: number, longest: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let index = 0; index < inodes.length; index++) {
    const run = runs.at(-1);
    if (run && run[1] - run[0] < longest && inodes[index - 1]! + 1 === inodes[index] && (inodes[index]! - 1) % inodesPerGroup !== 0) run[1] = index + 1;
    else runs.push([index, index + 1]);
  }
  return runs;
}

/**
 * Writes metadata blocks as they are encoded, a run of adjacent ones as one write:
 * blocks are handed out in inode order, so encoding in inode order meets them
 * ascending, and holding every directory block until the end (tens of MB for a large
 * closure) buys no fewer writes. The run is gathered in one reused buffer.
 */
class BlockWriter {
  private readonly staging: Buffer;
  private first = 0;
  private count = 0;
  constructor(
    private readonly image: Image,
    private readonly blockSize: number,
  ) {
    this.staging = Buffer.alloc(MAX_BLOCKS_PER_WRITE * blockSize);
  }
  put(block: number, bytes: Buffer): void {
    if (this.count > 0 && (block !== this.first + this.count || this.count === MAX_BLOCKS_PER_WRITE)) this.flush();
    if (this.count === 0) this.first = block;
    bytes.copy(this.staging, this.count * this.blockSize);
    this.count++;
  }
  flush(): void {
    if (this.count === 0) return;
    this.image.write(this.first * this.blockSize, this.staging.subarray(0, this.count * this.blockSize));
    this.count = 0;
  }
}

/**
 * Zeroed space for one inode's encoding, reused for the next: tens of thousands of
 * inodes each allocating its i_block and directory blocks left tens of MB of buffers for
 * the collector at the moment memory peaks. What does not fit (a huge directory) gets
 * fresh buffers.
 */
class Scratch {
  private readonly space: Buffer;
  private used = 0;
  constructor(bytes: number) {
    this.space = Buffer.alloc(bytes);
  }
  readonly take = (size: number): Buffer => {
    if (this.used + size > this.space.length) return Buffer.alloc(size);
    const bytes = this.space.subarray(this.used, this.used + size).fill(0);
    this.used += size;
    return bytes;
  };
  reset(): void {
    this.used = 0;
  }
}

/** 1 MiB of 4 KiB blocks: large enough for few writes, small enough not to matter in memory. */
const MAX_BLOCKS_PER_WRITE = 256;
/** 1 MiB of 256-byte inodes: the same bound for the inode tables. */
const MAX_INODES_PER_WRITE = 4096;
