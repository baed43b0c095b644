/**
 * The qcow2 container nixdisk writes itself instead of writing a raw image and running
 * `qemu-img convert` over it: the image is written once, and because the tables are laid
 * out before any data, each filesystem extent lands in one range of the file.
 *
 * The file is dense: header, refcount table, refcount blocks, L1 table, L2 tables, then
 * the allocated data clusters in guest order with no gaps. So every host cluster below
 * the end of the file has refcount 1, every table entry in use carries the COPIED flag,
 * and consecutive allocated guest clusters are consecutive in the file. Format:
 * qemu's docs/interop/qcow2.txt (version 3, 64 KiB clusters, 16-bit refcounts).
 */
import { allocatedUnitRuns, createContainerFile, type ContainerLayout, type UnitRuns } from './container.js';
import type { ByteRange, HostRun } from './host-map.js';

export const QCOW2_CLUSTER_BYTES = 65536;

/** Metadata in file order: header (cluster 0), refcount table, refcount blocks, L1 table, L2 tables; the map is cluster-aligned. */
export type Qcow2Layout = ContainerLayout;

export const QCOW2_CLUSTER_BITS = 16;
const U64_BYTES = 8;
const REFCOUNT_BYTES = 2;
/** refcount_order 4: 2^4-bit refcounts. */
const REFCOUNT_ORDER = 4;
export const TABLE_ENTRIES_PER_CLUSTER = QCOW2_CLUSTER_BYTES / U64_BYTES;
export const REFCOUNTS_PER_BLOCK = QCOW2_CLUSTER_BYTES / REFCOUNT_BYTES;
const GUEST_BYTES_PER_L2 = QCOW2_CLUSTER_BYTES * TABLE_ENTRIES_PER_CLUSTER;
/** qemu refuses to open an image whose L1 table is larger than this (QCOW_MAX_L1_SIZE). */
const MAX_L1_TABLE_BYTES = 32 * 1024 * 1024;

const MAGIC = 0x514649fb; // "QFI\xfb"
const VERSION = 3;
/** The version 3 header up to and including compression_type, padded to a multiple of 8. */
const HEADER_LENGTH = 112;
/** Type 0, length 0 after the header: no header extensions. */
const HEADER_EXTENSION_END_BYTES = 8;

const TWO_POW_32 = 0x1_0000_0000;
/** Bit 63 of a table entry, as set in its high half: refcount exactly 1, writable in place. */
export const COPIED_HIGH_BIT = 0x8000_0000;

/** Offsets stay below 2^53, so a u64 is written as two u32 halves rather than through BigInt. */
export function writeU64(buffer: Buffer, at: number, value: number, highFlags = 0): void {
  buffer.writeUInt32BE(Math.floor(value / TWO_POW_32) + highFlags, at);
  buffer.writeUInt32BE(value >>> 0, at + 4);
}

/**
 * Pure. `allocated`: guest byte ranges that will hold data (any order, may overlap, any
 * alignment; every cluster they touch is allocated; empty ranges ignored; ranges beyond
 * diskBytes are an error).
 */
export function layOutQcow2(diskBytes: number, allocated: Iterable<ByteRange>): Qcow2Layout {
  const l1Entries = qcow2L1Entries(diskBytes);

  const guestRuns = allocatedUnitRuns('qcow2', QCOW2_CLUSTER_BYTES, diskBytes, allocated);
  const l2Indexes = l1IndexesInUse(guestRuns);

  const l1Clusters = Math.ceil((l1Entries * U64_BYTES) / QCOW2_CLUSTER_BYTES);
  const { refcountTableClusters, refcountBlocks } = refcountClustersFor(1 + l1Clusters + l2Indexes.length + guestRuns.units);
  const totalClusters = 1 + l1Clusters + l2Indexes.length + guestRuns.units + refcountTableClusters + refcountBlocks;

  const refcountTableCluster = 1;
  const firstRefcountBlockCluster = refcountTableCluster + refcountTableClusters;
  const l1Cluster = firstRefcountBlockCluster + refcountBlocks;
  const firstL2Cluster = l1Cluster + l1Clusters;
  const firstDataCluster = firstL2Cluster + l2Indexes.length;

  const metadata: Qcow2Layout['metadata'] = [];
  metadata.push({ offset: 0, bytes: qcow2Header(diskBytes, l1Entries, l1Cluster, refcountTableCluster, refcountTableClusters) });

  const refcountTable = Buffer.alloc(refcountBlocks * U64_BYTES);
  for (let block = 0; block < refcountBlocks; block++) writeU64(refcountTable, block * U64_BYTES, (firstRefcountBlockCluster + block) * QCOW2_CLUSTER_BYTES);
  metadata.push({ offset: refcountTableCluster * QCOW2_CLUSTER_BYTES, bytes: refcountTable });

  // Only the counted clusters are written; the rest of the last block reads as zero.
  const refcountOne = Buffer.from([0, 1]);
  for (let block = 0; block < refcountBlocks; block++) {
    const counted = Math.min(REFCOUNTS_PER_BLOCK, totalClusters - block * REFCOUNTS_PER_BLOCK);
    metadata.push({ offset: (firstRefcountBlockCluster + block) * QCOW2_CLUSTER_BYTES, bytes: Buffer.alloc(counted * REFCOUNT_BYTES, refcountOne) });
  }

  const l1Table = Buffer.alloc(l1Entries * U64_BYTES);
  const l2Tables = l2Indexes.map((l1Index, position) => {
    writeU64(l1Table, l1Index * U64_BYTES, (firstL2Cluster + position) * QCOW2_CLUSTER_BYTES, COPIED_HIGH_BIT);
    return Buffer.alloc(QCOW2_CLUSTER_BYTES);
  });
  metadata.push({ offset: l1Cluster * QCOW2_CLUSTER_BYTES, bytes: l1Table });

  const map: HostRun[] = [];
  let hostCluster = firstDataCluster;
  let l2Position = 0;
  for (let run = 0; run < guestRuns.starts.length; run++) {
    const start = guestRuns.starts[run];
    const end = guestRuns.ends[run];
    map.push({ guest: start * QCOW2_CLUSTER_BYTES, host: hostCluster * QCOW2_CLUSTER_BYTES, length: (end - start) * QCOW2_CLUSTER_BYTES });
    for (let guestCluster = start; guestCluster < end; guestCluster++, hostCluster++) {
      const l1Index = Math.floor(guestCluster / TABLE_ENTRIES_PER_CLUSTER);
      while (l2Indexes[l2Position] !== l1Index) l2Position++;
      const entry = (guestCluster - l1Index * TABLE_ENTRIES_PER_CLUSTER) * U64_BYTES;
      writeU64(l2Tables[l2Position], entry, hostCluster * QCOW2_CLUSTER_BYTES, COPIED_HIGH_BIT);
    }
  }
  l2Tables.forEach((bytes, position) => metadata.push({ offset: (firstL2Cluster + position) * QCOW2_CLUSTER_BYTES, bytes }));

  return { fileBytes: totalClusters * QCOW2_CLUSTER_BYTES, map, metadata };
}

/** The L1 table's length for a disk of `diskBytes`, which qemu must accept. */
export function qcow2L1Entries(diskBytes: number): number {
  if (!Number.isSafeInteger(diskBytes) || diskBytes <= 0) throw new Error(`qcow2: disk size ${diskBytes} is not a positive safe integer`);
  const l1Entries = Math.ceil(diskBytes / GUEST_BYTES_PER_L2);
  if (l1Entries * U64_BYTES > MAX_L1_TABLE_BYTES) throw new Error(`qcow2: disk size ${diskBytes} needs an L1 table larger than the ${MAX_L1_TABLE_BYTES} bytes qemu accepts`);
  return l1Entries;
}

/**
 * How many refcount table clusters and refcount blocks a file needs whose other clusters
 * number `otherClusters`: the refcount clusters count themselves, so they grow until
 * they cover the whole file including their own clusters.
 */
export function refcountClustersFor(otherClusters: number): { refcountTableClusters: number; refcountBlocks: number } {
  let refcountTableClusters = 1;
  let refcountBlocks = 1;
  for (;;) {
    const totalClusters = otherClusters + refcountTableClusters + refcountBlocks;
    const neededBlocks = Math.ceil(totalClusters / REFCOUNTS_PER_BLOCK);
    const neededTableClusters = Math.ceil(neededBlocks / TABLE_ENTRIES_PER_CLUSTER);
    if (neededBlocks === refcountBlocks && neededTableClusters === refcountTableClusters) return { refcountTableClusters, refcountBlocks };
    refcountBlocks = neededBlocks;
    refcountTableClusters = neededTableClusters;
  }
}

/** The L1 entries whose L2 tables map at least one allocated cluster, ascending. */
function l1IndexesInUse(runs: UnitRuns): number[] {
  const indexes: number[] = [];
  for (let run = 0; run < runs.starts.length; run++) {
    const first = Math.floor(runs.starts[run] / TABLE_ENTRIES_PER_CLUSTER);
    const last = Math.floor((runs.ends[run] - 1) / TABLE_ENTRIES_PER_CLUSTER);
    for (let index = Math.max(first, (indexes.at(-1) ?? -1) + 1); index <= last; index++) indexes.push(index);
  }
  return indexes;
}

export function qcow2Header(diskBytes: number, l1Entries: number, l1Cluster: number, refcountTableCluster: number, refcountTableClusters: number): Buffer {
  // Zero-filled: no backing file, no encryption, no snapshots, no feature bits, zlib
  // compression type, and the header extension end marker that follows the header.
  const bytes = Buffer.alloc(HEADER_LENGTH + HEADER_EXTENSION_END_BYTES);
  bytes.writeUInt32BE(MAGIC, 0);
  bytes.writeUInt32BE(VERSION, 4);
  bytes.writeUInt32BE(QCOW2_CLUSTER_BITS, 20);
  writeU64(bytes, 24, diskBytes);
  bytes.writeUInt32BE(l1Entries, 36);
  writeU64(bytes, 40, l1Cluster * QCOW2_CLUSTER_BYTES);
  writeU64(bytes, 48, refcountTableCluster * QCOW2_CLUSTER_BYTES);
  bytes.writeUInt32BE(refcountTableClusters, 56);
  bytes.writeUInt32BE(REFCOUNT_ORDER, 96);
  bytes.writeUInt32BE(HEADER_LENGTH, 100);
  return bytes;
}

/** Creates `path` (must not exist) with the layout's tables; the data clusters stay holes until other writers fill them through layout.map. */
export const createQcow2File = createContainerFile;
