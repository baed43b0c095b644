/**
 * Puts a tree into a FAT filesystem mkfs.vfat has just formatted, writing straight into
 * its file what mmd and one mcopy per directory used to: every directory and file in one
 * run of clusters from the start of the free space (directories first, then files, each
 * in tree order), their chains in every FAT copy, the entries appended to the root
 * directory mkfs left (its volume label), and FAT32's FSInfo counts. One process instead
 * of a tool start-up per directory; file contents are streamed, never held whole.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { currentCancelSignal } from '../../../tools.js';
import { writeFully } from '../../disk/write-fully.js';
import type { TreeEntry } from '../tree.js';
import { countFree, followChain, freeTailStart, linkRun, setFatEntry } from './allocation-table.js';
import { clusterOffset, parseBootSector, type FatGeometry } from './boot-sector.js';
import { DIRECTORY_ENTRY_BYTES, directoryBytes, type DirectoryRecord } from './directory-entry.js';
import { baseName, clustersFor, layOutRuns, parentPath, planDirectories, type DirectoryPlan } from './layout.js';

/** The tree needs more clusters, or more FAT12/16 root directory slots, than the filesystem has. */
export class FatFullError extends Error {}

/** fatgen103 caps a directory at 65536 entries (2 MiB). */
const MOST_DIRECTORY_SLOTS = 65536;
const FSINFO_LEAD_SIGNATURE = 0x41615252;
const FSINFO_STRUCTURE_SIGNATURE = 0x61417272;
const COPY_CHUNK_BYTES = 1 << 20;

/** The root directory as mkfs left it: its bytes up to the first unused slot, and (FAT32) its clusters. */
interface ExistingRoot {
  used: Buffer;
  chain: number[];
}

/**
 * Writes `entries` (files and directories only, parents first, as scanTree lists them)
 * into the FAT filesystem in `file`, each entry dated `timeOf(entry)` (seconds since the
 * Unix epoch). Throws FatFullError when they do not fit.
 */
export async function populateFat(file: string, entries: readonly TreeEntry[], timeOf: (entry: TreeEntry) => number): Promise<void> {
  const fd = openSync(file, 'r+');
  try {
    const geometry = parseBootSector(readAt(fd, 0, 512));
    const fat = readAt(fd, geometry.fatOffsets[0]!, geometry.fatBytes);
    const root = readRoot(fd, geometry, fat);
    const directories = planDirectories(entries);
    for (const directory of directories) {
      if (directory.slots > MOST_DIRECTORY_SLOTS) {
        throw new Error(`FAT directories hold at most ${MOST_DIRECTORY_SLOTS} entries; /${directory.path} needs ${directory.slots} (long names take several)`);
      }
    }
    const [rootPlan, ...subdirectories] = directories as [DirectoryPlan, ...DirectoryPlan[]];
    const rootSlots = root.used.length / DIRECTORY_ENTRY_BYTES + rootPlan.slots;
    if (geometry.fixedRoot && rootSlots > geometry.fixedRoot.slots) {
      throw new FatFullError(`the root directory has ${geometry.fixedRoot.slots} slots, the tree needs ${rootSlots}`);
    }
    const rootGrowth = geometry.fixedRoot ? 0 : Math.max(0, clustersFor(rootSlots * DIRECTORY_ENTRY_BYTES, geometry.clusterBytes) - root.chain.length);
    const files = entries.filter((entry) => entry.kind === 'file');
    const first = freeTailStart(fat, geometry.fatType, geometry.clusterCount);
    const lengths = [
      rootGrowth,
      ...subdirectories.map((directory) => clustersFor(directory.slots * DIRECTORY_ENTRY_BYTES, geometry.clusterBytes)),
      ...files.map((entry) => clustersFor(entry.size, geometry.clusterBytes)),
    ];
    const { starts, next } = layOutRuns(lengths, first);
    const end = geometry.clusterCount + 2;
    if (next > end) throw new FatFullError(`the tree needs ${next - first} clusters of ${geometry.clusterBytes} bytes, ${end - first} are free`);

    const [rootGrowthStart, ...entryStarts] = starts as [number, ...number[]];
    const clusterOf = new Map<string, number>([...subdirectories, ...files].map((item, index) => [item.path, entryStarts[index]!]));
    for (const [index, length] of lengths.entries()) if (length > 0) linkRun(fat, geometry.fatType, starts[index]!, length);
    if (rootGrowth > 0) setFatEntry(fat, geometry.fatType, root.chain.at(-1)!, rootGrowthStart);
    for (const offset of geometry.fatOffsets) writeFully(fd, fat, offset);

    for (const directory of directories) {
      const records = directoryRecords(directory, clusterOf, timeOf);
      if (directory.entry === null) {
        writeRoot(fd, geometry, root, records, rootGrowthStart, rootGrowth);
      } else {
        const self = clusterOf.get(directory.path)!;
        const bytes = directoryBytes(records, { self, parent: clusterOf.get(parentPath(directory.path)) ?? 0, time: timeOf(directory.entry) });
        writeFully(fd, padded(bytes, geometry.clusterBytes), clusterOffset(geometry, self));
      }
    }
    if (geometry.fsInfoOffset !== null) updateFsInfo(fd, geometry.fsInfoOffset, countFree(fat, geometry.fatType, geometry.clusterCount), next < end ? next : 0xffffffff);

    for (const entry of files) {
      if (entry.size === 0) continue;
      currentCancelSignal()?.throwIfAborted();
      copyFile(entry, fd, clusterOffset(geometry, clusterOf.get(entry.path)!));
      await nextTurn();
    }
  } finally {
    closeSync(fd);
  }
}

function directoryRecords(directory: DirectoryPlan, clusterOf: ReadonlyMap<string, number>, timeOf: (entry: TreeEntry) => number): DirectoryRecord[] {
  return directory.children.map((child, index) => ({
    ...directory.shortNames[index]!,
    longName: baseName(child.path),
    directory: child.kind === 'directory',
    cluster: clusterOf.get(child.path) ?? 0,
    size: child.size,
    time: timeOf(child),
  }));
}

function readRoot(fd: number, geometry: FatGeometry, fat: Buffer): ExistingRoot {
  const chain = geometry.fixedRoot ? [] : followChain(fat, geometry.fatType, geometry.rootCluster, geometry.clusterCount);
  const bytes = geometry.fixedRoot
    ? readAt(fd, geometry.fixedRoot.offset, geometry.fixedRoot.slots * DIRECTORY_ENTRY_BYTES)
    : Buffer.concat(chain.map((cluster) => readAt(fd, clusterOffset(geometry, cluster), geometry.clusterBytes)));
  let usedSlots = 0;
  while (usedSlots * DIRECTORY_ENTRY_BYTES < bytes.length && bytes[usedSlots * DIRECTORY_ENTRY_BYTES] !== 0) usedSlots++;
  return { used: bytes.subarray(0, usedSlots * DIRECTORY_ENTRY_BYTES), chain };
}

/** Appends `records` to the root: after its used slots in FAT12/16's fixed area, or over FAT32's chain grown by `growth` clusters from `growthStart`. */
function writeRoot(fd: number, geometry: FatGeometry, root: ExistingRoot, records: DirectoryRecord[], growthStart: number, growth: number): void {
  if (records.length === 0) return;
  const added = directoryBytes(records, null);
  if (geometry.fixedRoot) {
    writeFully(fd, added, geometry.fixedRoot.offset + root.used.length);
    return;
  }
  const whole = padded(Buffer.concat([root.used, added]), geometry.clusterBytes);
  const chain = [...root.chain, ...Array.from({ length: growth }, (_, index) => growthStart + index)];
  chain.forEach((cluster, index) => writeFully(fd, whole.subarray(index * geometry.clusterBytes, (index + 1) * geometry.clusterBytes), clusterOffset(geometry, cluster)));
}

/** FSInfo's free-cluster count and next-free hint, when the sector carries its signatures (else it is left as it is, which drivers then ignore). */
function updateFsInfo(fd: number, offset: number, free: number, nextFree: number): void {
  const sector = readAt(fd, offset, 512);
  if (sector.readUInt32LE(0) !== FSINFO_LEAD_SIGNATURE || sector.readUInt32LE(484) !== FSINFO_STRUCTURE_SIGNATURE) return;
  const counts = Buffer.alloc(8);
  counts.writeUInt32LE(free, 0);
  counts.writeUInt32LE(nextFree, 4);
  writeFully(fd, counts, offset + 488);
}

function copyFile(entry: TreeEntry, fd: number, offset: number): void {
  const source = openSync(entry.source, 'r');
  try {
    const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, entry.size));
    let copied = 0;
    while (copied < entry.size) {
      const read = readSync(source, chunk, 0, Math.min(chunk.length, entry.size - copied), copied);
      if (read === 0) break;
      writeFully(fd, chunk.subarray(0, read), offset + copied);
      copied += read;
    }
    if (copied !== entry.size || readSync(source, Buffer.alloc(1), 0, 1, copied) !== 0) {
      throw new Error(`${entry.source} changed size while it was copied (expected ${entry.size} bytes)`);
    }
  } finally {
    closeSync(source);
  }
}

function padded(bytes: Buffer, multiple: number): Buffer {
  const length = Math.max(multiple, clustersFor(bytes.length, multiple) * multiple);
  return bytes.length === length ? bytes : Buffer.concat([bytes, Buffer.alloc(length - bytes.length)]);
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const read = readSync(fd, bytes, done, length - done, offset + done);
    if (read === 0) throw new Error(`the FAT filesystem ends before byte ${offset + length}`);
    done += read;
  }
  return bytes;
}
