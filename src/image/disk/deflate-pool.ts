/**
 * Deflates qcow2 clusters on worker threads, as qemu compresses them one at a time on one
 * core: each cluster is its own raw deflate stream (no zlib header) at zlib's default
 * level, with the 4 KiB window (window bits 12) and memLevel 9 that qemu's
 * block/qcow2-threads.c uses, so qemu's inflate (window bits 12) reads it. A cluster is
 * deflated alone, so its bytes do not depend on which thread did it.
 */
import { Worker } from 'node:worker_threads';

/** What the worker does with one batch; it runs from its source text, so it uses only its arguments. */
function deflateBatch(
  zlib: typeof import('node:zlib'),
  input: ArrayBuffer,
  clusterBytes: number,
  count: number,
): { data: Uint8Array; lengths: Int32Array } {
  const clusters = new Uint8Array(input);
  const pieces: Uint8Array[] = [];
  const lengths = new Int32Array(count);
  let total = 0;
  for (let index = 0; index < count; index++) {
    const deflated = zlib.deflateRawSync(clusters.subarray(index * clusterBytes, (index + 1) * clusterBytes), { level: 6, windowBits: 12, memLevel: 9 });
    // qemu stores a cluster whose deflated form is not smaller than the cluster as it is.
    if (deflated.length >= clusterBytes) {
      lengths[index] = -1;
      continue;
    }
    lengths[index] = deflated.length;
    pieces.push(deflated);
    total += deflated.length;
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    data.set(piece, at);
    at += piece.length;
  }
  return { data, lengths };
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const deflateBatch = (${deflateBatch.toString()});
parentPort.on('message', ({ id, input, clusterBytes, count }) => {
  const { data, lengths } = deflateBatch(zlib, input, clusterBytes, count);
  parentPort.postMessage({ id, data, lengths }, [data.buffer, lengths.buffer]);
});
`;

export interface DeflatedBatch {
  /** The deflated clusters of the batch, back to back, in batch order; clusters stored as they are are not in it. */
  data: Uint8Array;
  /** Per cluster of the batch: its deflated length in `data`, or -1 when it does not shrink and is stored as it is. */
  lengths: Int32Array;
}

export class DeflatePool {
  private readonly workers: Worker[];
  private readonly busy: number[];
  private readonly waiting = new Map<number, { resolve: (batch: DeflatedBatch) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;
  private closing = false;

  constructor(threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`internal: ${threads} deflate threads`);
    this.workers = Array.from({ length: threads }, () => new Worker(WORKER_SOURCE, { eval: true }));
    this.busy = this.workers.map(() => 0);
    this.workers.forEach((worker, index) => {
      worker.on('message', ({ id, data, lengths }: { id: number } & DeflatedBatch) => {
        const waiter = this.waiting.get(id);
        this.waiting.delete(id);
        this.busy[index]!--;
        // A batch that finishes after close is dropped.
        waiter?.resolve({ data, lengths });
      });
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closing) this.fail(new Error(`a deflate thread stopped with code ${code}`));
      });
    });
  }

  /** Deflates the `count` clusters of `clusterBytes` each in `input`, which moves to the worker (the caller must not use it again). */
  deflate(input: ArrayBuffer, clusterBytes: number, count: number): Promise<DeflatedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    // The least busy thread, the lowest-numbered on a tie: batches are equal in size, so this shares them out evenly.
    const worker = this.busy.indexOf(Math.min(...this.busy));
    this.busy[worker]!++;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.workers[worker]!.postMessage({ id, input, clusterBytes, count }, [input]);
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
