/**
 * Deflates qcow2 clusters on every core (the calling thread and worker threads), as qemu
 * compresses them one at a time on one core: each cluster is its own raw deflate stream
 * (no zlib header) at zlib's default level, with the 4 KiB window (window bits 12) and
 * memLevel 9 that qemu's block/qcow2-threads.c uses, so qemu's inflate (window bits 12)
 * reads it. A cluster is deflated alone, so its bytes do not depend on which thread did it.
 *
 * Memory stays flat however large the disk: a batch's buffer goes to a worker and comes
 * back with the result packed into it, so the caller reuses a fixed set of buffers, and
 * the threads' own garbage is kept small (see DEFLATE_OPTIONS). The calling thread
 * deflates too, rather than one more worker: a worker brings its own heap and Node
 * environment, and in a 929 MB build two workers peaked at 153-156 MB where the calling
 * thread and one worker peaked at 148 MB, at the same speed.
 */
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';

/**
 * Deflates each of the `count` clusters in `batch` and packs the results in place, in
 * batch order: a cluster's deflated bytes, or the cluster itself when deflating does not
 * shrink it (qemu stores such a cluster as it is). Packing never overtakes reading: the
 * result of cluster i starts at or before byte i × clusterBytes and ends before cluster
 * i + 1 starts. It runs here and, from its source text, in the workers, so it uses only
 * its arguments.
 */
function deflateBatchInPlace(deflater: Pick<typeof zlib, 'deflateRawSync'>, options: zlib.ZlibOptions, batch: ArrayBuffer, clusterBytes: number, count: number): Int32Array {
  const bytes = new Uint8Array(batch);
  const lengths = new Int32Array(count);
  let packed = 0;
  for (let index = 0; index < count; index++) {
    const cluster = bytes.subarray(index * clusterBytes, (index + 1) * clusterBytes);
    const deflated = deflater.deflateRawSync(cluster, options);
    if (deflated.length >= clusterBytes) {
      bytes.copyWithin(packed, index * clusterBytes, (index + 1) * clusterBytes);
      lengths[index] = -1;
      packed += clusterBytes;
    } else {
      bytes.set(deflated, packed);
      lengths[index] = deflated.length;
      packed += deflated.length;
    }
  }
  return lengths;
}

/**
 * qemu's parameters (level 6 is zlib's default), and output pieces of 512 bytes: zlib's
 * sync call allocates its output piece by piece, and pieces under 4 KiB are slices of
 * Node's shared buffer pool, each a small object on the thread's heap. Those objects fill
 * the young generation every few clusters (a worker's is held to 1 MiB, WORKER_LIMITS),
 * and each scavenge frees the dead output buffers with them. With zlib's 16 KiB default
 * pieces the garbage is memory outside the heap, which V8 collected only after some
 * 36 MB of it per thread (measured: 36 MB against 7 MB, at the same speed).
 */
const DEFLATE_OPTIONS: zlib.ZlibOptions = { level: 6, windowBits: 12, memLevel: 9, chunkSize: 512 };
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1 };
/** Batches queued on a worker: the one it deflates and the next, so it never waits for the calling thread. */
const QUEUE_PER_WORKER = 2;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const options = ${JSON.stringify(DEFLATE_OPTIONS)};
const deflateBatchInPlace = (${deflateBatchInPlace.toString()});
parentPort.on('message', ({ id, batch, clusterBytes, count }) => {
  const lengths = deflateBatchInPlace(zlib, options, batch, clusterBytes, count);
  parentPort.postMessage({ id, batch, lengths }, [batch, lengths.buffer]);
});
`;

export interface DeflatedBatch {
  /** The buffer the batch was sent in, back from the thread with the results packed from its start (see deflateBatchInPlace). */
  packed: ArrayBuffer;
  /** Per cluster of the batch: its deflated length, or -1 when it does not shrink and is stored as it is (clusterBytes bytes). */
  lengths: Int32Array;
}

export class DeflatePool {
  private readonly workers: Worker[];
  private readonly busy: number[];
  private readonly waiting = new Map<number, { resolve: (batch: DeflatedBatch) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;
  private closing = false;

  /** `threads` deflating threads: the calling thread and threads - 1 workers. */
  constructor(threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`internal: ${threads} deflate threads`);
    this.workers = Array.from({ length: threads - 1 }, () => new Worker(WORKER_SOURCE, { eval: true, resourceLimits: WORKER_LIMITS }));
    this.busy = this.workers.map(() => 0);
    this.workers.forEach((worker, index) => {
      worker.on('message', ({ id, batch, lengths }: { id: number; batch: ArrayBuffer; lengths: Int32Array }) => {
        const waiter = this.waiting.get(id);
        this.waiting.delete(id);
        this.busy[index]!--;
        // A batch that finishes after close is dropped.
        waiter?.resolve({ packed: batch, lengths });
      });
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closing) this.fail(new Error(`a deflate thread stopped with code ${code}`));
      });
    });
  }

  /**
   * Deflates the `count` clusters of `clusterBytes` each in `batch`, which moves to a
   * worker until the promise settles with it; or, when every worker has its queue full,
   * deflates them here and now.
   */
  deflate(batch: ArrayBuffer, clusterBytes: number, count: number): Promise<DeflatedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    // The least busy worker, the lowest-numbered on a tie: batches are equal in size, so this shares them out evenly.
    const worker = this.busy.indexOf(Math.min(...this.busy));
    if (worker < 0 || this.busy[worker]! >= QUEUE_PER_WORKER) {
      try {
        return Promise.resolve({ packed: batch, lengths: deflateBatchInPlace(zlib, DEFLATE_OPTIONS, batch, clusterBytes, count) });
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.busy[worker]!++;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.workers[worker]!.postMessage({ id, batch, clusterBytes, count }, [batch]);
    });
  }

  /** Stops the threads; batches still under way are dropped, their promises never settle. */
  async close(): Promise<void> {
    this.closing = true;
    this.waiting.clear();
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }
}
