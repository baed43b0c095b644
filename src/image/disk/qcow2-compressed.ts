/**
 * qcow2-compressed, written by nixdisk from a raw disk instead of `qemu-img convert -c`:
 * the same format qemu makes (each cluster deflated alone, stored with a compressed-cluster
 * descriptor; a cluster that does not shrink stored as it is; clusters of zeros not
 * stored), but deflated on every core while the output stays in guest order, so the bytes
 * are the same whatever the number of threads.
 *
 * File layout: the header cluster, then the data of every stored guest cluster in guest
 * order (deflated clusters packed back to back at byte granularity as qemu packs them,
 * uncompressed ones at the next cluster boundary), then the L2 tables, the L1 table, the
 * refcount table and the refcount blocks, which are only known once the data is placed.
 * Format: qemu's docs/interop/qcow2.txt, "Compressed Clusters Descriptor".
 */
import { closeSync, ftruncateSync, openSync, readSync, unlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DeflatePool, type DeflatedBatch } from './deflate-pool.js';
import type { ByteRange } from './host-map.js';
import {
  COPIED_HIGH_BIT,
  QCOW2_CLUSTER_BITS,
  QCOW2_CLUSTER_BYTES,
  qcow2Header,
  qcow2L1Entries,
  REFCOUNTS_PER_BLOCK,
  refcountClustersFor,
  TABLE_ENTRIES_PER_CLUSTER,
  writeU64,
} from './qcow2.js';
import { storedRanges } from './sparse-copy.js';
import { writeFully } from './write-fully.js';

const C = QCOW2_CLUSTER_BYTES;
/** Compressed descriptors count their data in 512-byte sectors. */
const SECTOR = 512;
/** Bits 0..x-1 of a compressed descriptor hold the host offset, x = 62 - (cluster_bits - 8); the sector count sits above. */
const COMPRESSED_OFFSET_BITS = 62 - (QCOW2_CLUSTER_BITS - 8);
const SECTOR_COUNT_LIMIT = 1 << (QCOW2_CLUSTER_BITS - 8);
/** Bit 62, as set in an entry's high half. */
const COMPRESSED_HIGH_BIT = 0x4000_0000;
/** Clusters per batch handed to a thread: 1 MiB, enough work to hide the message passing. */
const BATCH_CLUSTERS = 16;
/** Batches under way per deflating thread: enough that none waits (see DeflatePool), few enough to hold little memory. */
const WINDOW_PER_THREAD = 2;
const ZEROS = Buffer.alloc(C);

export interface CompressOptions {
  /** Deflating threads, the calling one included; every core by default. */
  threads?: number;
  /** Called after each batch with the guest bytes done so far and the disk size. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/** The L2 entry of a deflated cluster whose `length` bytes start at host byte `offset`, as two u32 halves. */
export function compressedDescriptor(offset: number, length: number): { high: number; low: number } {
  if (offset >= 2 ** COMPRESSED_OFFSET_BITS) throw new Error(`qcow2: compressed data at ${offset} lies beyond what a descriptor can address`);
  const additionalSectors = Math.floor((offset + length - 1) / SECTOR) - Math.floor(offset / SECTOR);
  if (additionalSectors >= SECTOR_COUNT_LIMIT) throw new Error(`internal: ${length} compressed bytes span too many sectors`);
  return { high: Math.floor(offset / 2 ** 32) + additionalSectors * 2 ** (COMPRESSED_OFFSET_BITS - 32) + COMPRESSED_HIGH_BIT, low: offset >>> 0 };
}

/** Host refcounts of the data area, one per cluster from the first data cluster on; grows as data is placed. */
class DataRefcounts {
  counts = new Uint16Array(1024);
  clusters = 0;

  /** Every host cluster that [start, end) touches gains one reference. */
  add(start: number, end: number): void {
    const last = Math.floor((end - 1) / C);
    if (last >= this.counts.length) {
      const grown = new Uint16Array(Math.max(last + 1, this.counts.length * 2));
      grown.set(this.counts);
      this.counts = grown;
    }
    for (let cluster = Math.floor(start / C); cluster <= last; cluster++) this.counts[cluster]!++;
    this.clusters = Math.max(this.clusters, last + 1);
  }
}

/**
 * Writes `output` (must not exist) as a zlib-compressed qcow2 of the first `diskBytes`
 * bytes of the raw disk `rawFile` (bytes past its end read as zeros). A failure leaves no `output`.
 */
export async function writeCompressedQcow2(rawFile: string, diskBytes: number, output: string, options: CompressOptions = {}): Promise<void> {
  const l1Entries = qcow2L1Entries(diskBytes);
  const input = openSync(rawFile, 'r');
  let out: number | undefined;
  const threads = options.threads ?? availableParallelism();
  const pool = new DeflatePool(threads);
  try {
    out = openSync(output, 'wx');
    const clusterRuns = clusterAligned(await storedRanges(rawFile, [[0, diskBytes]]), diskBytes);
    const l2Tables = new Map<number, Buffer>();
    const refcounts = new DataRefcounts();
    // Host bytes are counted from the first data cluster (cluster 1) on. Deflated
    // clusters are packed at `cursor`; a cluster stored as it is takes the next whole
    // cluster after the one `cursor` is in, and the deflated ones keep filling that one
    // until the next does not fit, then go on after the whole clusters (as qemu fills a
    // partly used cluster before it takes a new one).
    let cursor = 0;
    let wholeStart = -1;
    let wholeEnd = -1;
    const outFd = out;
    const place = (guestClusters: readonly number[], { packed, lengths }: DeflatedBatch): void => {
      const bytes = new Uint8Array(packed);
      let from = 0;
      guestClusters.forEach((guestCluster, index) => {
        const length = lengths[index]!;
        const l1Index = Math.floor(guestCluster / TABLE_ENTRIES_PER_CLUSTER);
        let l2 = l2Tables.get(l1Index);
        if (!l2) l2Tables.set(l1Index, (l2 = Buffer.alloc(C)));
        const entryAt = (guestCluster % TABLE_ENTRIES_PER_CLUSTER) * 8;
        if (length < 0) {
          if (wholeStart < 0) wholeStart = wholeEnd = Math.ceil(cursor / C);
          const at = wholeEnd++ * C;
          writeFully(outFd, bytes.subarray(from, from + C), C + at);
          from += C;
          refcounts.add(at, at + C);
          writeU64(l2, entryAt, C + at, COPIED_HIGH_BIT);
          return;
        }
        if (wholeStart >= 0 && cursor + length > wholeStart * C) {
          cursor = wholeEnd * C;
          wholeStart = wholeEnd = -1;
        }
        writeFully(outFd, bytes.subarray(from, from + length), C + cursor);
        from += length;
        const { high, low } = compressedDescriptor(C + cursor, length);
        l2.writeUInt32BE(high, entryAt);
        l2.writeUInt32BE(low, entryAt + 4);
        // qemu counts a reference for each cluster the descriptor's whole sectors touch.
        const firstSector = Math.floor((C + cursor) / SECTOR) * SECTOR;
        const lastSectorEnd = (Math.floor((C + cursor + length - 1) / SECTOR) + 1) * SECTOR;
        refcounts.add(firstSector - C, lastSectorEnd - C);
        cursor += length;
      });
    };

    // Batches go to the threads in guest order and are placed in the same order. A fixed
    // window of them is under way, each in a buffer of its own that comes back to be
    // filled again once its batch is placed: a thread always has its next batch waiting,
    // and memory does not grow with the disk, nor when the threads outrun the writing.
    const window = WINDOW_PER_THREAD * threads;
    const idle: ArrayBuffer[] = [];
    const inFlight: { guestClusters: number[]; doneBytes: number; deflated: Promise<DeflatedBatch> }[] = [];
    const placeOldest = async () => {
      const oldest = inFlight.shift()!;
      const deflated = await oldest.deflated;
      place(oldest.guestClusters, deflated);
      idle.push(deflated.packed);
      options.onProgress?.(oldest.doneBytes, diskBytes);
    };
    const reader = new NonzeroClusterReader(input, clusterRuns, diskBytes);
    for (;;) {
      options.signal?.throwIfAborted();
      if (inFlight.length === window) await placeOldest();
      const buffer = idle.pop() ?? new ArrayBuffer(BATCH_CLUSTERS * C);
      const batch = reader.fill(new Uint8Array(buffer));
      if (!batch) break;
      const deflated = pool.deflate(buffer, C, batch.guestClusters.length);
      // Observed now: a batch that fails while an earlier one is awaited is not an unhandled rejection; placing it rethrows.
      deflated.catch(() => {});
      inFlight.push({ ...batch, deflated });
      // An event-loop turn per batch: signals get through even when no worker's result is
      // awaited, as on one core, where the calling thread deflates every batch itself.
      await nextTurn();
    }
    while (inFlight.length > 0) await placeOldest();
    options.signal?.throwIfAborted();

    writeMetadata(outFd, diskBytes, l1Entries, 1 + Math.max(Math.ceil(cursor / C), wholeEnd), l2Tables, refcounts);
    options.onProgress?.(diskBytes, diskBytes);
  } catch (error) {
    if (out !== undefined) {
      closeSync(out);
      out = undefined;
      unlinkSync(output);
    }
    throw error;
  } finally {
    if (out !== undefined) closeSync(out);
    closeSync(input);
    await pool.close();
  }
}

/** The clusters `ranges` touch, as merged [first, end) cluster runs. */
function clusterAligned(ranges: readonly ByteRange[], diskBytes: number): [number, number][] {
  const runs: [number, number][] = [];
  for (const [start, end] of ranges) {
    const first = Math.floor(start / C);
    const last = Math.ceil(Math.min(end, diskBytes) / C);
    const previous = runs.at(-1);
    if (previous && first <= previous[1]) previous[1] = Math.max(previous[1], last);
    else if (first < last) runs.push([first, last]);
  }
  return runs;
}

/** Reads the stored clusters of a raw disk in guest order and hands out those that are not all zeros, a batch at a time. */
class NonzeroClusterReader {
  private run = 0;
  private next: number;

  constructor(
    private readonly fd: number,
    private readonly clusterRuns: readonly [number, number][],
    private readonly diskBytes: number,
  ) {
    this.next = clusterRuns[0]?.[0] ?? 0;
  }

  /**
   * Fills `batch` from its start with up to BATCH_CLUSTERS clusters that are not all zeros;
   * their guest cluster numbers, and how far through the disk the reading has come. Null
   * when no cluster is left. Clusters are read straight into `batch` and the zero ones
   * closed over, so no other buffer holds them.
   */
  fill(batch: Uint8Array): { guestClusters: number[]; doneBytes: number } | null {
    const guestClusters: number[] = [];
    while (guestClusters.length < BATCH_CLUSTERS && this.run < this.clusterRuns.length) {
      const end = this.clusterRuns[this.run]![1];
      const slot = guestClusters.length;
      const count = Math.min(BATCH_CLUSTERS - slot, end - this.next);
      readPadded(this.fd, batch.subarray(slot * C, (slot + count) * C), this.next * C, this.diskBytes);
      for (let index = 0; index < count; index++) {
        const from = (slot + index) * C;
        if (Buffer.compare(batch.subarray(from, from + C), ZEROS) === 0) continue;
        const to = guestClusters.length * C;
        if (to !== from) batch.copyWithin(to, from, from + C);
        guestClusters.push(this.next + index);
      }
      this.next += count;
      if (this.next === end && ++this.run < this.clusterRuns.length) this.next = this.clusterRuns[this.run]![0];
    }
    if (guestClusters.length === 0) return null;
    const doneBytes = this.run < this.clusterRuns.length ? Math.min(this.diskBytes, this.next * C) : this.diskBytes;
    return { guestClusters, doneBytes };
  }
}

/** Fills `buffer` from `position`; what lies past the file's end or past the disk's end (a partial last cluster) reads as zeros, as qemu pads it. */
function readPadded(fd: number, buffer: Uint8Array, position: number, diskBytes: number): void {
  const length = buffer.length;
  const wanted = Math.max(0, Math.min(length, diskBytes - position));
  let done = 0;
  while (done < wanted) {
    const got = readSync(fd, buffer, done, wanted - done, position + done);
    if (got === 0) break;
    done += got;
  }
  buffer.fill(0, done, length);
}

/** The L2 tables, L1 table, refcount table and blocks after the data (which ends before cluster `firstMetadataCluster`), then the header. */
function writeMetadata(fd: number, diskBytes: number, l1Entries: number, firstMetadataCluster: number, l2Tables: Map<number, Buffer>, data: DataRefcounts): void {
  const l1Indexes = [...l2Tables.keys()].sort((a, b) => a - b);
  const l1Cluster = firstMetadataCluster + l1Indexes.length;
  const l1Clusters = Math.ceil((l1Entries * 8) / C);
  const refcountTableCluster = l1Cluster + l1Clusters;
  const { refcountTableClusters, refcountBlocks } = refcountClustersFor(refcountTableCluster);
  const firstRefcountBlockCluster = refcountTableCluster + refcountTableClusters;
  const totalClusters = firstRefcountBlockCluster + refcountBlocks;

  const l1 = Buffer.alloc(l1Entries * 8);
  l1Indexes.forEach((l1Index, position) => {
    writeU64(l1, l1Index * 8, (firstMetadataCluster + position) * C, COPIED_HIGH_BIT);
    writeFully(fd, l2Tables.get(l1Index)!, (firstMetadataCluster + position) * C);
  });
  writeFully(fd, l1, l1Cluster * C);

  const refcountTable = Buffer.alloc(refcountBlocks * 8);
  for (let block = 0; block < refcountBlocks; block++) writeU64(refcountTable, block * 8, (firstRefcountBlockCluster + block) * C);
  writeFully(fd, refcountTable, refcountTableCluster * C);
  for (let block = 0; block < refcountBlocks; block++) {
    const first = block * REFCOUNTS_PER_BLOCK;
    const counts = Buffer.alloc(Math.min(REFCOUNTS_PER_BLOCK, totalClusters - first) * 2);
    for (let cluster = first; cluster < first + counts.length / 2; cluster++) {
      const refcount = cluster === 0 || cluster >= firstMetadataCluster ? 1 : (data.counts[cluster - 1] ?? 0);
      counts.writeUInt16BE(refcount, (cluster - first) * 2);
    }
    writeFully(fd, counts, (firstRefcountBlockCluster + block) * C);
  }
  writeFully(fd, qcow2Header(diskBytes, l1Entries, l1Cluster, refcountTableCluster, refcountTableClusters), 0);
  // The last refcount block is written only as far as it counts; the file still covers it whole.
  ftruncateSync(fd, totalClusters * C);
}
