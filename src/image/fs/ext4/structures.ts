/**
 * Byte encoders for what nixdisk adds to an ext4: inodes, extent trees and linear
 * directory blocks, each with its metadata_csum checksum. Pure; layouts are those of
 * the kernel's struct ext4_inode, ext4_extent_header/ext4_extent/ext4_extent_idx,
 * ext4_dir_entry_2 and ext4_dir_entry_tail.
 */
import { crc32c, crc32cOfU32 } from './crc32c.js';

export const INODE_FLAG_EXTENTS = 0x80000;
export const EXTENT_MAGIC = 0xf30a;
const EXTENT_ENTRY_SIZE = 12;
/** Extents (or index entries) that fit in i_block after the header. */
export const EXTENTS_IN_INODE = 4;
/** The longest initialised extent. */
export const EXTENT_MAX_BLOCKS = 32768;
export const I_BLOCK_SIZE = 60;
/** Inode fields beyond the original 128 bytes that nixdisk fills (up to i_projid). */
const EXTRA_ISIZE = 32;
const DIR_TAIL_SIZE = 12;
const DIR_TAIL_FILE_TYPE = 0xde;

export const FILE_TYPE = { file: 1, directory: 2, charDevice: 3, blockDevice: 4, fifo: 5, socket: 6, symlink: 7 } as const;

export interface Extent {
  /** First block of the file it maps. */
  logical: number;
  physical: number;
  length: number;
}

export interface Timestamps {
  atime: number;
  ctime: number;
  mtime: number;
  crtime: number;
}

export interface InodeFields {
  /** Type and permission bits, as st_mode. */
  mode: number;
  size: number;
  links: number;
  /** Data and extent-tree blocks, counted in blocks of the filesystem. */
  blocks: number;
  flags: number;
  /** The 60 bytes of i_block: an extent-tree root, a short symlink target or a device number. */
  block: Buffer;
  times: Timestamps;
  /** root (0:0) when absent. */
  owner?: { uid: number; gid: number };
}

/** The checksum seed of everything belonging to one inode (its extent and directory blocks). */
export function inodeSeed(fsSeed: number, ino: number): number {
  return crc32cOfU32(crc32cOfU32(fsSeed, ino), 0 /* i_generation */);
}

/**
 * One inode of `inodeSize` bytes, owned by `fields.owner` (root when absent), with its checksum; written into `into`
 * (zeroed, `inodeSize` long) when given, so a run of inodes shares one allocation.
 */
export function encodeInode(fields: InodeFields, ino: number, inodeSize: number, fsSeed: number, blockSize: number, into?: Buffer): Buffer {
  const inode = into ?? Buffer.alloc(inodeSize);
  const sectors = fields.blocks * (blockSize / 512);
  inode.writeUInt16LE(fields.mode, 0x00);
  if (fields.owner) {
    // Low 16 bits in the classic fields, high 16 in the Linux osd2 ones.
    inode.writeUInt16LE(fields.owner.uid & 0xffff, 0x02);
    inode.writeUInt16LE(fields.owner.gid & 0xffff, 0x18);
    inode.writeUInt16LE(fields.owner.uid >>> 16, 0x78);
    inode.writeUInt16LE(fields.owner.gid >>> 16, 0x7a);
  }
  inode.writeUInt32LE(fields.size % 2 ** 32, 0x04);
  writeTime(inode, fields.times.atime, 0x08, 0x8c);
  writeTime(inode, fields.times.ctime, 0x0c, 0x84);
  writeTime(inode, fields.times.mtime, 0x10, 0x88);
  writeTime(inode, fields.times.crtime, 0x90, 0x94);
  inode.writeUInt16LE(fields.links, 0x1a);
  inode.writeUInt32LE(sectors % 2 ** 32, 0x1c);
  inode.writeUInt16LE(Math.floor(sectors / 2 ** 32), 0x74);
  inode.writeUInt32LE(fields.flags, 0x20);
  if (fields.block.length !== I_BLOCK_SIZE) throw new Error(`internal: i_block must be ${I_BLOCK_SIZE} bytes`);
  fields.block.copy(inode, 0x28);
  inode.writeUInt32LE(Math.floor(fields.size / 2 ** 32), 0x6c);
  inode.writeUInt16LE(EXTRA_ISIZE, 0x80);
  const crc = crc32c(inodeSeed(fsSeed, ino), inode);
  inode.writeUInt16LE(crc & 0xffff, 0x7c);
  inode.writeUInt16LE(crc >>> 16, 0x82);
  return inode;
}

/** Seconds in the 32-bit field, the epoch bits above 2^31 in the extra field's low two bits (nanoseconds zero). */
function writeTime(inode: Buffer, seconds: number, at: number, extraAt: number): void {
  const low = seconds | 0;
  inode.writeInt32LE(low, at);
  inode.writeUInt32LE(((seconds - low) / 2 ** 32) & 0x3, extraAt);
}

/** Blocks an extent tree over `extentCount` extents needs outside the inode. */
export function extentTreeBlockCount(extentCount: number, blockSize: number): number {
  const perBlock = entriesPerTreeBlock(blockSize);
  let level = extentCount;
  let blocks = 0;
  while (level > EXTENTS_IN_INODE) {
    level = Math.ceil(level / perBlock);
    blocks += level;
  }
  return blocks;
}

function entriesPerTreeBlock(blockSize: number): number {
  return Math.floor((blockSize - EXTENT_ENTRY_SIZE) / EXTENT_ENTRY_SIZE);
}

export interface EncodedExtentTree {
  /** i_block: the root node. */
  root: Buffer;
  /** Tree blocks by block number, leaves first. */
  blocks: { block: number; bytes: Buffer }[];
}

/** Zeroed bytes for an encoder to fill: fresh ones by default, or a caller's reused scratch space. */
export type Allocate = (size: number) => Buffer;

const fresh: Allocate = (size) => Buffer.alloc(size);

/**
 * The extent tree mapping `extents` (in logical order), with `treeBlocks` (exactly
 * extentTreeBlockCount of them) holding the nodes that do not fit in the inode.
 */
export function encodeExtentTree(
  extents: readonly Extent[],
  treeBlocks: readonly number[],
  ino: number,
  fsSeed: number,
  blockSize: number,
  allocate: Allocate = fresh,
): EncodedExtentTree {
  if (treeBlocks.length !== extentTreeBlockCount(extents.length, blockSize)) {
    throw new Error(`internal: ${extents.length} extents need ${extentTreeBlockCount(extents.length, blockSize)} tree blocks, not ${treeBlocks.length}`);
  }
  const perBlock = entriesPerTreeBlock(blockSize);
  const blocks: EncodedExtentTree['blocks'] = [];
  // Each level: nodes of entries; an entry is an extent at depth 0, an index (first logical block, child) above.
  let entries: readonly (Extent | IndexEntry)[] = extents;
  let depth = 0;
  let nextTreeBlock = 0;
  while (entries.length > EXTENTS_IN_INODE) {
    const seed = inodeSeed(fsSeed, ino);
    const parents: IndexEntry[] = [];
    for (let first = 0; first < entries.length; first += perBlock) {
      const children = entries.slice(first, first + perBlock);
      const block = treeBlocks[nextTreeBlock++]!;
      const node = allocate(blockSize);
      writeNode(node, children, perBlock, depth);
      node.writeUInt32LE(crc32c(seed, node.subarray(0, EXTENT_ENTRY_SIZE * (1 + perBlock))), EXTENT_ENTRY_SIZE * (1 + perBlock));
      blocks.push({ block, bytes: node });
      parents.push({ logical: children[0]!.logical, child: block });
    }
    entries = parents;
    depth++;
  }
  const root = allocate(I_BLOCK_SIZE);
  writeNode(root, entries, EXTENTS_IN_INODE, depth);
  return { root, blocks };
}

/** An entry of an index node: the first logical block below it and the tree block holding that node. */
interface IndexEntry {
  logical: number;
  child: number;
}

/** Header and entries of one node: extents at depth 0 (leaves), index entries above. */
function writeNode(node: Buffer, entries: readonly (Extent | IndexEntry)[], max: number, depth: number): void {
  node.writeUInt16LE(EXTENT_MAGIC, 0);
  node.writeUInt16LE(entries.length, 2);
  node.writeUInt16LE(max, 4);
  node.writeUInt16LE(depth, 6);
  for (let index = 0, at = EXTENT_ENTRY_SIZE; index < entries.length; index++, at += EXTENT_ENTRY_SIZE) {
    const entry = entries[index]!;
    node.writeUInt32LE(entry.logical, at);
    if ('child' in entry) {
      node.writeUInt32LE(entry.child % 2 ** 32, at + 4);
      node.writeUInt16LE(Math.floor(entry.child / 2 ** 32), at + 8);
    } else {
      node.writeUInt16LE(entry.length, at + 4);
      node.writeUInt16LE(Math.floor(entry.physical / 2 ** 32), at + 6);
      node.writeUInt32LE(entry.physical % 2 ** 32, at + 8);
    }
  }
}

export interface DirectoryEntry {
  /** Stored as its UTF-8 bytes; a string, so a directory shares the names its tree already holds. */
  name: string;
  ino: number;
  fileType: number;
}

/** Bytes a directory entry with a name this long takes (before the last of a block is stretched). */
export function directoryEntrySize(nameLength: number): number {
  return (8 + nameLength + 3) & ~3;
}

/** Bytes of a directory block that entries may take: all but the checksum tail. */
export function directoryRoom(blockSize: number): number {
  return blockSize - DIR_TAIL_SIZE;
}

/** How many blocks a linear directory of these entries (".", ".." included) takes. */
export function directoryBlockCount(entries: readonly DirectoryEntry[], blockSize: number): number {
  let blocks = 0;
  packDirectory(entries, blockSize, (first) => {
    if (first) blocks++;
  });
  return blocks;
}

/**
 * Calls `place` for each entry in order with whether it starts a new block, its name's
 * bytes and whether it is the last of its block: an entry never straddles two blocks.
 */
function packDirectory(
  entries: readonly DirectoryEntry[],
  blockSize: number,
  place: (startsBlock: boolean, entry: DirectoryEntry, nameBytes: number, lastOfBlock: boolean) => void,
): void {
  const room = directoryRoom(blockSize);
  let used = 0;
  const sizes = entries.map((entry) => {
    const nameBytes = Buffer.byteLength(entry.name);
    if (nameBytes === 0 || nameBytes > 255) throw new Error(`cannot store a ${nameBytes}-byte name in an ext4 directory`);
    return nameBytes;
  });
  entries.forEach((entry, index) => {
    const size = directoryEntrySize(sizes[index]!);
    const startsBlock = index === 0 || used + size > room;
    if (startsBlock) used = 0;
    used += size;
    const next = sizes[index + 1];
    place(startsBlock, entry, sizes[index]!, next === undefined || used + directoryEntrySize(next) > room);
  });
}

/** The directory's blocks: entries packed in order, the last of each block stretched to its checksum tail. */
export function encodeDirectory(entries: readonly DirectoryEntry[], ino: number, fsSeed: number, blockSize: number, allocate: Allocate = fresh): Buffer[] {
  const seed = inodeSeed(fsSeed, ino);
  const room = directoryRoom(blockSize);
  const blocks: Buffer[] = [];
  let block: Buffer = Buffer.alloc(0);
  let at = 0;
  const seal = () => {
    block.writeUInt16LE(DIR_TAIL_SIZE, room + 4);
    block.writeUInt8(DIR_TAIL_FILE_TYPE, room + 7);
    block.writeUInt32LE(crc32c(seed, block.subarray(0, room)), room + 8);
  };
  packDirectory(entries, blockSize, (startsBlock, entry, nameBytes, lastOfBlock) => {
    if (startsBlock) {
      block = allocate(blockSize);
      blocks.push(block);
      at = 0;
    }
    const recordLength = lastOfBlock ? room - at : directoryEntrySize(nameBytes);
    block.writeUInt32LE(entry.ino, at);
    block.writeUInt16LE(recordLength, at + 4);
    block.writeUInt8(nameBytes, at + 6);
    block.writeUInt8(entry.fileType, at + 7);
    block.write(entry.name, at + 8, 'utf8');
    at += recordLength;
    if (lastOfBlock) seal();
  });
  return blocks;
}
