/**
 * Copies file contents into the blocks planPopulation gave them, on two threads: a
 * worker starts as soon as the layout is planned, and the main thread joins it once it
 * has written the metadata, so encoding the metadata (0.15 s for the bench closure)
 * runs beside the copy instead of before it (with both cores busy it gains less than
 * its own time, as the two slow each other). Both threads take batches of files,
 * in disk order, from one shared counter, so neither waits for the other whatever the
 * head start. Copying synchronously in 1 MiB chunks on two threads beat one thread
 * (0.43 s against 0.75 s for the 929 MB bench closure on the 2-core build machines) and
 * libuv's async calls (1.35 s); a second worker cost 12 MB of memory for no more speed.
 */
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { currentByteProgress } from '../../../events.js';
import { writeMapped, type MappedTarget } from '../../disk/host-map.js';
import type { Extent } from './structures.js';

export interface CopyJob {
  source: string;
  size: number;
  extents: readonly Extent[];
}

/** A copy under way: the main thread's part is `finish`, or `cancel` when the caller gives up first. */
export interface FileCopy {
  /** Copies batches here until none is left, between event-loop turns, then waits for the worker. */
  finish(): Promise<void>;
  /** Stops the worker and settles once it has; for a caller that fails before `finish`. */
  cancel(): Promise<void>;
}

/**
 * The jobs packed into shared memory: both threads read the same bytes, where a
 * structured clone to the worker cost a second copy of every path and extent (about 40
 * MB for 70,000 files). `paths` holds UTF-8 text: a directory (with its final '/') once
 * for a run of jobs in it, then each job's base name. Per job, `jobs` holds JOB_COLUMNS
 * numbers: where its directory starts and ends in `paths`, where its name ends (it starts
 * where the directory or the name before it ended), its size, and the end of its extents,
 * which are `extents` triples (logical, physical, length) from the previous job's end.
 */
export interface CopyTable {
  count: number;
  jobs: Float64Array;
  paths: Uint8Array;
  extents: Float64Array;
}

const JOB_COLUMNS = 5;

/** A job's source as its directory (ending in '/') and base name. */
function splitSource(source: string): [directory: string, name: string] {
  const slash = source.lastIndexOf('/') + 1;
  return [source.slice(0, slash), source.slice(slash)];
}

/**
 * Packs `jobs` into a CopyTable: one pass to size it, one to fill it, so nothing but the
 * table itself is allocated (growing arrays cost twice the table at the moment memory
 * peaks). `jobs` is iterated twice; each pass may generate them afresh.
 */
export function copyTable(jobs: Iterable<CopyJob>): CopyTable {
  let count = 0;
  let pathBytes = 0;
  let extentCount = 0;
  let lastDirectory: string | null = null;
  for (const job of jobs) {
    const [directory, name] = splitSource(job.source);
    if (directory !== lastDirectory) pathBytes += Buffer.byteLength(directory);
    lastDirectory = directory;
    count++;
    pathBytes += Buffer.byteLength(name);
    extentCount += job.extents.length;
  }
  const table: CopyTable = {
    count,
    jobs: new Float64Array(new SharedArrayBuffer(count * JOB_COLUMNS * 8)),
    paths: new Uint8Array(new SharedArrayBuffer(pathBytes)),
    extents: new Float64Array(new SharedArrayBuffer(extentCount * 3 * 8)),
  };
  const paths = Buffer.from(table.paths.buffer);
  let index = 0;
  let written = 0;
  let extentEnd = 0;
  let directoryStart = 0;
  let directoryEnd = 0;
  lastDirectory = null;
  for (const job of jobs) {
    if (index === count) break;
    const [directory, name] = splitSource(job.source);
    if (directory !== lastDirectory) {
      directoryStart = written;
      written += paths.write(directory, written, 'utf8');
      directoryEnd = written;
      lastDirectory = directory;
    }
    written += paths.write(name, written, 'utf8');
    for (const extent of job.extents) {
      if (extentEnd === extentCount) break;
      table.extents[3 * extentEnd] = extent.logical;
      table.extents[3 * extentEnd + 1] = extent.physical;
      table.extents[3 * extentEnd + 2] = extent.length;
      extentEnd++;
    }
    table.jobs.set([directoryStart, directoryEnd, written, job.size, extentEnd], JOB_COLUMNS * index++);
  }
  if (index !== count || written !== pathBytes || extentEnd !== extentCount) throw new Error('internal: the copy jobs changed between the two passes');
  return table;
}

/** A batch is at least this many bytes of whole files: few enough claims, small enough to balance the threads. */
const BATCH_BYTES = 8 << 20;
/** The main thread yields to the event loop (signals, progress) after about this many bytes. */
const MAIN_THREAD_SLICE_BYTES = 64 << 20;

type FileCalls = Pick<typeof fs, 'openSync' | 'closeSync' | 'readSync' | 'writeSync'>;

/**
 * Claims batches from the shared counter `next` and copies their jobs into the
 * filesystem held by `target`, synchronously, until none is left (returns false) or
 * `budgetBytes` have been copied (returns true). It runs on both threads: on the worker
 * from source text (eval), so it works the same from compiled JavaScript and from the
 * TypeScript sources tests run; hence the file calls and writeMapped come in as
 * arguments and nothing else from outside the function is used. `batchEnds[i]` is the
 * index of the first job after batch i; the nth claim takes batch `order[n]`.
 */
function copyClaimedBatches(
  files: FileCalls,
  write: typeof writeMapped,
  target: MappedTarget,
  blockSize: number,
  table: CopyTable,
  batchEnds: readonly number[],
  order: readonly number[],
  next: Int32Array,
  budgetBytes: number,
  buffer: Buffer,
): boolean {
  const paths = Buffer.from(table.paths.buffer, table.paths.byteOffset, table.paths.byteLength);
  const out = files.openSync(target.path, 'r+');
  let copiedHere = 0;
  try {
    while (copiedHere < budgetBytes) {
      const claim = Atomics.add(next, 0, 1);
      if (claim >= order.length) return false;
      const batch = order[claim]!;
      for (let index = batch === 0 ? 0 : batchEnds[batch - 1]!; index < batchEnds[batch]!; index++) {
        // The columns as copyTable writes them (JOB_COLUMNS = 5); see CopyTable.
        const row = 5 * index;
        const directoryEnd = table.jobs[row + 1]!;
        const nameStart = index === 0 ? directoryEnd : Math.max(directoryEnd, table.jobs[row - 3]!);
        const source = paths.toString('utf8', table.jobs[row]!, directoryEnd) + paths.toString('utf8', nameStart, table.jobs[row + 2]!);
        const size = table.jobs[row + 3]!;
        const fd = files.openSync(source, 'r');
        try {
          let copied = 0;
          for (let extent = index === 0 ? 0 : table.jobs[row - 1]!; extent < table.jobs[row + 4]!; extent++) {
            const logical = table.extents[3 * extent]!;
            const physical = table.extents[3 * extent + 1]!;
            const length = table.extents[3 * extent + 2]!;
            const start = logical * blockSize;
            const end = Math.min(size, (logical + length) * blockSize);
            for (let at = start; at < end; ) {
              const got = files.readSync(fd, buffer, 0, Math.min(buffer.length, end - at), at);
              if (got === 0) throw new Error(`${source} is shorter than the ${size} bytes it had when the tree was scanned`);
              write(files, out, target.map, buffer, 0, got, physical * blockSize + (at - start));
              at += got;
              copied += got;
            }
          }
          if (copied !== size) throw new Error(`internal: copied ${copied} of ${size} bytes of ${source}`);
          if (files.readSync(fd, buffer, 0, 1, size) !== 0) throw new Error(`${source} grew after the tree was scanned`);
        } finally {
          files.closeSync(fd);
        }
        copiedHere += size;
      }
    }
    return true;
  } finally {
    files.closeSync(out);
  }
}

/**
 * The copy thread allocates little (a path string per file): a small young generation,
 * like the one the CLI's #! line gives the main thread, keeps its heap from growing to
 * V8's default of several times that.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 };

/** Each thread's read-write buffer; one per thread for the whole copy, not one per slice. */
const COPY_CHUNK_BYTES = 1 << 20;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.once('message', (d) => {
  parentPort.close();
  (${copyClaimedBatches.toString()})(require('node:fs'), (${writeMapped.toString()}), d.target, d.blockSize, d.table, d.batchEnds, d.order, d.next, Infinity, Buffer.allocUnsafe(${COPY_CHUNK_BYTES}));
});
`;

/** A copy thread started ahead of its copy; unreferenced, it keeps no process alive. */
let spareThread: Worker | undefined;

/**
 * Starts a copy thread now, for the next startFileCopy: a thread takes some 75 ms of a
 * core to start, which is better spent while the layout is planned (when the other core
 * is idle) than once the copy is due.
 */
export function startCopyThread(): void {
  if (spareThread || availableParallelism() < 2) return;
  const thread = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: WORKER_LIMITS });
  thread.unref();
  // A spare that fails is dropped; the next copy starts a thread of its own.
  thread.once('error', () => {
    if (spareThread === thread) spareThread = undefined;
  });
  spareThread = thread;
}

/** The spare thread, or a new one; referenced, as it now holds work. */
function copyThread(): Worker {
  const thread = spareThread ?? new Worker(WORKER_SOURCE, { eval: true, resourceLimits: WORKER_LIMITS });
  spareThread = undefined;
  thread.ref();
  return thread;
}

/** Consecutive files of these sizes cut into batches of at least BATCH_BYTES; each entry is the end (exclusive) of one batch. */
export function batchEnds(sizes: ArrayLike<number>, batchBytes = BATCH_BYTES): number[] {
  const ends: number[] = [];
  let bytes = 0;
  for (let index = 0; index < sizes.length; index++) {
    bytes += sizes[index]!;
    if (bytes >= batchBytes || index === sizes.length - 1) {
      ends.push(index + 1);
      bytes = 0;
    }
  }
  return ends;
}

/** The bytes of each batch, from the files' sizes and the batches' ends. */
function batchBytes(ends: readonly number[], sizes: ArrayLike<number>): number[] {
  return ends.map((end, batch) => {
    let total = 0;
    for (let index = batch === 0 ? 0 : ends[batch - 1]!; index < end; index++) total += sizes[index]!;
    return total;
  });
}

/**
 * The order in which batches of these sizes are claimed: the largest first (longest
 * processing time first), so that the copy ends on small batches and neither thread
 * waits long for the other's last one, which a 40 MB file at the end made about 25 ms.
 * Equal sizes keep disk order.
 */
export function claimOrder(bytes: readonly number[]): number[] {
  return bytes.map((_, batch) => batch).sort((a, b) => bytes[b]! - bytes[a]! || a - b);
}

/** The sizes column of a table. */
function sizesOf(table: CopyTable): Float64Array {
  return Float64Array.from({ length: table.count }, (_, index) => table.jobs[JOB_COLUMNS * index + 3]!);
}

/** Starts copying `jobs` into `target` on a worker thread (when there are two cores); the main thread joins in `finish`. */
export function startFileCopy(target: MappedTarget, blockSize: number, jobs: Iterable<CopyJob>, signal?: AbortSignal): FileCopy {
  const table = copyTable(jobs);
  const sizes = sizesOf(table);
  const ends = batchEnds(sizes);
  const bytes = batchBytes(ends, sizes);
  const order = claimOrder(bytes);
  const next = new Int32Array(new SharedArrayBuffer(4));
  const worker = ends.length > 1 && availableParallelism() > 1 ? copyThread() : null;
  // The table and the counter are shared memory: both threads see the same bytes.
  worker?.postMessage({ target, blockSize, table, batchEnds: ends, order, next });
  const workerDone = worker ? finished(worker, signal) : Promise.resolve();
  // Observed here so that a worker failing while the main thread is busy is not an unhandled rejection; finish rethrows it.
  workerDone.catch(() => {});
  const progress = currentByteProgress();
  // Bytes in the batches claimed before each claim: what is copied, give or take the batches under way, once a claim is made.
  const bytesBefore = [0];
  for (const batch of order) bytesBefore.push(bytesBefore.at(-1)! + bytes[batch]!);
  const totalBytes = bytesBefore.at(-1)!;
  const buffer = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
  return {
    async finish() {
      try {
        signal?.throwIfAborted();
        while (copyClaimedBatches(fs, writeMapped, target, blockSize, table, ends, order, next, MAIN_THREAD_SLICE_BYTES, buffer)) {
          progress?.(bytesBefore[Math.min(Atomics.load(next, 0), ends.length)]!, totalBytes);
          await nextTurn();
          signal?.throwIfAborted();
        }
      } catch (error) {
        await worker?.terminate();
        throw error;
      }
      await workerDone;
      progress?.(totalBytes, totalBytes);
    },
    async cancel() {
      await worker?.terminate();
    },
  };
}

/** Settles when the worker exits: rejects on its error, or with the abort reason when `signal` stops it. */
function finished(worker: Worker, signal: AbortSignal | undefined): Promise<void> {
  const stop = () => void worker.terminate();
  signal?.addEventListener('abort', stop, { once: true });
  return new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => {
      signal?.removeEventListener('abort', stop);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolve();
      else reject(new Error(`the data copy thread stopped with code ${code}`));
    });
  });
}
