/**
 * Where every entry of a source tree goes in an empty ext4: inode numbers, directory
 * contents and blocks for directories, file data and extent trees. Pure: it takes the
 * free inodes and blocks mke2fs left and decides, so the same tree and the same empty
 * filesystem always give the same layout.
 *
 * Inodes are handed out in ascending order and blocks first-fit from the start, walking
 * the tree parents first with names in byte order (as scanTree lists it), so a
 * directory's blocks sit just before its files' data.
 */
import type { TreeEntry } from '../tree.js';
import {
  directoryBlockCount,
  EXTENT_MAX_BLOCKS,
  extentTreeBlockCount,
  FILE_TYPE,
  I_BLOCK_SIZE,
  type DirectoryEntry,
  type Extent,
} from './structures.js';

export const ROOT_INODE = 2;
/** With dir_nlink, a directory whose link count would pass this stores 1. */
const MAX_DIRECTORY_LINKS = 65000;

/** Inclusive [first, last] runs, ascending. */
export type Runs = readonly (readonly [number, number])[];

export interface FreeSpace {
  blocks: Runs;
  inodes: Runs;
}

/** The root directory as mke2fs made it: one block, with lost+found in it. */
export interface ExistingRoot {
  block: number;
  /** Its entries besides "." and "..". */
  entries: readonly DirectoryEntry[];
}

/** One planned inode, as plannedInode makes it from the Population's columns. */
export interface PlannedInode {
  ino: number;
  /** The tree entry (the first name of a hard-linked file); null for the root directory. */
  entry: TreeEntry | null;
  links: number;
  /** Data blocks: file contents, directory blocks or a long symlink's target. */
  extents: readonly Extent[];
  dataBlocks: number;
  treeBlocks: readonly number[];
  /** For directories: the entries, "." and ".." first. */
  directory?: readonly DirectoryEntry[];
}

/**
 * The plan, column by column: index i is the i-th planned inode in ascending inode
 * order, the root first. Columns rather than an object per inode, because a closure
 * has tens of thousands of inodes: about 60 bytes each instead of about 400.
 */
export interface Population {
  count: number;
  ino: Uint32Array;
  entry: readonly (TreeEntry | null)[];
  links: Uint32Array;
  dataBlocks: Float64Array;
  /** Inode i's extents are extents[3·extentEnd[i-1], 3·extentEnd[i]) as logical, physical, length triples. */
  extentEnd: Uint32Array;
  extents: readonly number[];
  /** Extent-tree blocks, for the few inodes that have any. */
  treeBlocks: ReadonlyMap<number, readonly number[]>;
  /** The directories' entries, "." and ".." first. */
  directories: ReadonlyMap<number, readonly DirectoryEntry[]>;
  blocksUsed: number;
  inodesUsed: number;
}

/** Planned inode `index` as one object, made when asked for. */
export function plannedInode(population: Population, index: number): PlannedInode {
  const extents: Extent[] = [];
  for (let at = index === 0 ? 0 : population.extentEnd[index - 1]!; at < population.extentEnd[index]!; at++) {
    extents.push({ logical: population.extents[3 * at]!, physical: population.extents[3 * at + 1]!, length: population.extents[3 * at + 2]! });
  }
  return {
    ino: population.ino[index]!,
    entry: population.entry[index]!,
    links: population.links[index]!,
    extents,
    dataBlocks: population.dataBlocks[index]!,
    treeBlocks: population.treeBlocks.get(index) ?? NONE,
    directory: population.directories.get(index),
  };
}

/** Every planned inode as an object, in inode order, one at a time. */
export function* plannedInodes(population: Population): Generator<PlannedInode> {
  for (let index = 0; index < population.count; index++) yield plannedInode(population, index);
}

export class OutOfSpaceError extends Error {
  constructor(
    readonly missingBlocks: number,
    readonly missingInodes: number,
  ) {
    super(`the tree needs ${missingBlocks} more blocks and ${missingInodes} more inodes than the filesystem has free`);
  }
}

/** One shared empty list for the many inodes without extents or tree blocks: tens of thousands of empty arrays add up. */
const NONE: readonly never[] = Object.freeze([]);

/** Short targets live in the inode itself (a "fast" symlink), with room for a terminating zero. */
export const FAST_SYMLINK_MAX = I_BLOCK_SIZE - 1;

function fileTypeOf(entry: TreeEntry): number {
  switch (entry.kind) {
    case 'file':
      return FILE_TYPE.file;
    case 'directory':
      return FILE_TYPE.directory;
    case 'symlink':
      return FILE_TYPE.symlink;
    case 'other':
      return SPECIAL_FILE_TYPES[entry.format] ?? unsupported(entry);
  }
}

const S_IFMT = { fifo: 0o010000, charDevice: 0o020000, blockDevice: 0o060000, socket: 0o140000 } as const;
const SPECIAL_FILE_TYPES: Readonly<Record<number, number>> = {
  [S_IFMT.fifo]: FILE_TYPE.fifo,
  [S_IFMT.charDevice]: FILE_TYPE.charDevice,
  [S_IFMT.blockDevice]: FILE_TYPE.blockDevice,
  [S_IFMT.socket]: FILE_TYPE.socket,
};

function unsupported(entry: TreeEntry): never {
  throw new Error(`cannot store ${entry.path} in ext4: unknown file type 0o${entry.format.toString(8)}`);
}

/** Blocks an entry's own contents take (not counting its extent tree). */
export function contentBlocks(entry: TreeEntry, blockSize: number): number {
  if (entry.kind === 'file') return Math.ceil(entry.size / blockSize);
  if (entry.kind === 'symlink') return Buffer.byteLength(entry.linkTarget!) > FAST_SYMLINK_MAX ? 1 : 0;
  return 0;
}

class InodeAllocator {
  private run = 0;
  private next: number;
  missing = 0;
  constructor(private readonly runs: Runs) {
    this.next = runs[0]?.[0] ?? 0;
  }
  take(): number {
    while (this.run < this.runs.length && this.next > this.runs[this.run]![1]) {
      this.run++;
      this.next = this.runs[this.run]?.[0] ?? 0;
    }
    if (this.run >= this.runs.length) {
      this.missing++;
      return 0;
    }
    return this.next++;
  }
}

class BlockAllocator {
  private run = 0;
  private next: number;
  missing = 0;
  used = 0;
  constructor(private readonly runs: Runs) {
    this.next = runs[0]?.[0] ?? 0;
  }
  /** `count` blocks as physical runs [first, length], first fit from where the last one ended. */
  take(count: number): [number, number][] {
    const taken: [number, number][] = [];
    let wanted = count;
    while (wanted > 0 && this.run < this.runs.length) {
      const last = this.runs[this.run]![1];
      if (this.next > last) {
        this.run++;
        this.next = this.runs[this.run]?.[0] ?? 0;
        continue;
      }
      const length = Math.min(wanted, last - this.next + 1);
      taken.push([this.next, length]);
      this.next += length;
      wanted -= length;
    }
    this.used += count - wanted;
    this.missing += wanted;
    return taken;
  }
}

/** Physical runs in logical order as extents: adjacent runs merged, none longer than an extent holds. */
export function extentsOf(runs: readonly (readonly [number, number])[]): Extent[] {
  const extents: Extent[] = [];
  let logical = 0;
  for (const [first, length] of runs) {
    let physical = first;
    let left = length;
    while (left > 0) {
      const previous = extents.at(-1);
      if (previous && previous.physical + previous.length === physical && previous.length < EXTENT_MAX_BLOCKS) {
        const grow = Math.min(left, EXTENT_MAX_BLOCKS - previous.length);
        previous.length += grow;
        physical += grow;
        left -= grow;
        logical += grow;
        continue;
      }
      const take = Math.min(left, EXTENT_MAX_BLOCKS);
      extents.push({ logical, physical, length: take });
      physical += take;
      left -= take;
      logical += take;
    }
  }
  return extents;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Lays out `tree` (scanTree order: parents before children) in the free space; throws OutOfSpaceError when it does not fit. */
export function planPopulation(tree: readonly TreeEntry[], free: FreeSpace, root: ExistingRoot, blockSize: number): Population {
  const inodeNumbers = new InodeAllocator(free.inodes);
  // Inodes are numbered as they are planned, ascending: index order is inode order.
  const ino = new Uint32Array(tree.length + 1);
  const links = new Uint32Array(tree.length + 1);
  const entries: (TreeEntry | null)[] = [null];
  const directories = new Map<number, DirectoryEntry[]>();
  const directoryByPath = new Map<string, number>([['', 0]]);
  const byIdentity = new Map<string, number>();

  ino[0] = ROOT_INODE;
  const rootNames = new Set(root.entries.map((entry) => entry.name));
  directories.set(0, [dirEntry('.', ROOT_INODE, FILE_TYPE.directory), dirEntry('..', ROOT_INODE, FILE_TYPE.directory), ...root.entries]);
  links[0] = 2 + root.entries.filter((entry) => entry.fileType === FILE_TYPE.directory).length;

  for (const entry of tree) {
    const parent = directoryByPath.get(parentOf(entry.path));
    if (parent === undefined) throw new Error(`internal: ${entry.path} listed before its directory`);
    if (parent === 0 && rootNames.has(entry.path)) {
      throw new Error(`the source tree has its own /${entry.path}, which mke2fs already made; remove it from the tree`);
    }
    let index = entry.kind === 'directory' || entry.nlink < 2 ? undefined : byIdentity.get(entry.identity);
    if (index !== undefined) {
      links[index]!++;
    } else {
      index = entries.length;
      entries.push(entry);
      ino[index] = inodeNumbers.take();
      links[index] = 1;
      if (entry.kind === 'directory') {
        links[index] = 2;
        directories.set(index, [dirEntry('.', ino[index]!, FILE_TYPE.directory), dirEntry('..', ino[parent]!, FILE_TYPE.directory)]);
        directoryByPath.set(entry.path, index);
        links[parent]!++;
      } else if (entry.nlink > 1) {
        byIdentity.set(entry.identity, index);
      }
    }
    directories.get(parent)!.push({ name: nameOf(entry.path), ino: ino[index]!, fileType: fileTypeOf(entry) });
  }

  const count = entries.length;
  const blocks = new BlockAllocator(free.blocks);
  const dataBlocks = new Float64Array(count);
  const extentEnd = new Uint32Array(count);
  const extents: number[] = [];
  const treeBlocks = new Map<number, number[]>();
  for (let index = 0; index < count; index++) {
    const directory = directories.get(index);
    let runs: [number, number][] = [];
    if (directory) {
      if (links[index]! > MAX_DIRECTORY_LINKS) links[index] = 1;
      dataBlocks[index] = directoryBlockCount(directory, blockSize);
      runs = index === 0 ? [[root.block, 1], ...blocks.take(dataBlocks[index]! - 1)] : blocks.take(dataBlocks[index]!);
    } else {
      dataBlocks[index] = contentBlocks(entries[index]!, blockSize);
      if (dataBlocks[index]! > 0) runs = blocks.take(dataBlocks[index]!);
    }
    const own = extentsOf(runs);
    for (const extent of own) extents.push(extent.logical, extent.physical, extent.length);
    extentEnd[index] = extents.length / 3;
    const treeBlockCount = extentTreeBlockCount(own.length, blockSize);
    if (treeBlockCount > 0) {
      treeBlocks.set(index, blocks.take(treeBlockCount).flatMap(([first, length]) => Array.from({ length }, (_, offset) => first + offset)));
    }
  }

  if (blocks.missing > 0 || inodeNumbers.missing > 0) throw new OutOfSpaceError(blocks.missing, inodeNumbers.missing);
  return {
    count,
    ino: ino.subarray(0, count),
    entry: entries,
    links: links.subarray(0, count),
    dataBlocks,
    extentEnd,
    extents,
    treeBlocks,
    directories,
    blocksUsed: blocks.used,
    inodesUsed: count - 1,
  };
}

function dirEntry(name: string, ino: number, fileType: number): DirectoryEntry {
  return { name, ino, fileType };
}
