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
import type { TreeEntry } from '../common.js';
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
  directory?: DirectoryEntry[];
}

export interface Population {
  /** In ascending inode order; the root first. */
  inodes: PlannedInode[];
  blocksUsed: number;
  inodesUsed: number;
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
  const rootInode: PlannedInode = { ino: ROOT_INODE, entry: null, links: 2, extents: NONE, dataBlocks: 0, treeBlocks: NONE, directory: [] };
  const byPath = new Map<string, PlannedInode>([['', rootInode]]);
  const byIdentity = new Map<string, PlannedInode>();
  const inodes: PlannedInode[] = [rootInode];

  const rootNames = new Set(root.entries.map((entry) => entry.name));
  rootInode.directory!.push(dirEntry('.', ROOT_INODE, FILE_TYPE.directory), dirEntry('..', ROOT_INODE, FILE_TYPE.directory), ...root.entries);
  rootInode.links += root.entries.filter((entry) => entry.fileType === FILE_TYPE.directory).length;

  for (const entry of tree) {
    const parent = byPath.get(parentOf(entry.path));
    if (!parent?.directory) throw new Error(`internal: ${entry.path} listed before its directory`);
    if (parent === rootInode && rootNames.has(entry.path)) {
      throw new Error(`the source tree has its own /${entry.path}, which mke2fs already made; remove it from the tree`);
    }
    let inode = entry.kind === 'directory' ? undefined : byIdentity.get(entry.identity);
    if (inode) {
      inode.links++;
    } else {
      inode = { ino: inodeNumbers.take(), entry, links: 1, extents: NONE, dataBlocks: 0, treeBlocks: NONE };
      inodes.push(inode);
      if (entry.kind === 'directory') {
        inode.links = 2;
        inode.directory = [dirEntry('.', inode.ino, FILE_TYPE.directory), dirEntry('..', parent.ino, FILE_TYPE.directory)];
        byPath.set(entry.path, inode);
        parent.links++;
      } else {
        byIdentity.set(entry.identity, inode);
      }
    }
    parent.directory.push({ name: nameOf(entry.path), ino: inode.ino, fileType: fileTypeOf(entry) });
  }

  const blocks = new BlockAllocator(free.blocks);
  for (const inode of inodes) {
    if (inode.directory) {
      if (inode.links > MAX_DIRECTORY_LINKS) inode.links = 1;
      const count = directoryBlockCount(inode.directory, blockSize);
      const runs: [number, number][] = inode === rootInode ? [[root.block, 1], ...blocks.take(count - 1)] : blocks.take(count);
      inode.extents = extentsOf(runs);
      inode.dataBlocks = count;
    } else {
      inode.dataBlocks = contentBlocks(inode.entry!, blockSize);
      if (inode.dataBlocks > 0) inode.extents = extentsOf(blocks.take(inode.dataBlocks));
    }
    const treeBlockCount = extentTreeBlockCount(inode.extents.length, blockSize);
    if (treeBlockCount > 0) {
      inode.treeBlocks = blocks.take(treeBlockCount).flatMap(([first, length]) => Array.from({ length }, (_, index) => first + index));
    }
  }

  if (blocks.missing > 0 || inodeNumbers.missing > 0) throw new OutOfSpaceError(blocks.missing, inodeNumbers.missing);
  inodes.sort((a, b) => a.ino - b.ino);
  return { inodes, blocksUsed: blocks.used, inodesUsed: inodes.length - 1 };
}

function dirEntry(name: string, ino: number, fileType: number): DirectoryEntry {
  return { name, ino, fileType };
}
