/** The file-data copy: batches, both threads sharing them, and sources that changed since the scan. */
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityMap, type HostMap } from '../../../../src/image/disk/host-map.js';
import { batchEnds, claimOrder, startFileCopy, type CopyJob } from '../../../../src/image/fs/ext4/copy-data.js';

const BLOCK = 4096;
const MiB = 1 << 20;

describe('batchEnds', () => {
  it.each([
    { sizes: [], batch: 10, ends: [] },
    { sizes: [4], batch: 10, ends: [1] },
    { sizes: [4, 4, 4], batch: 10, ends: [3] },
    { sizes: [4, 6, 4], batch: 10, ends: [2, 3] },
    { sizes: [25, 1, 1], batch: 10, ends: [1, 3] },
    { sizes: [10, 10, 10], batch: 10, ends: [1, 2, 3] },
  ])('$sizes in batches of $batch bytes end at $ends', ({ sizes, batch, ends }) => {
    expect(batchEnds(sizes, batch)).toEqual(ends);
  });
});

describe('claimOrder', () => {
  it.each([
    { bytes: [], order: [] },
    { bytes: [8], order: [0] },
    { bytes: [8, 40, 9], order: [1, 2, 0] },
    { bytes: [8, 8, 8], order: [0, 1, 2] },
    { bytes: [3, 40, 8, 40], order: [1, 3, 2, 0] },
  ])('batches of $bytes bytes are claimed as $order', ({ bytes, order }) => {
    expect(claimOrder(bytes)).toEqual(order);
  });
});

describe('startFileCopy', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-copy-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Files of distinct bytes, each split over two extents placed back to front, so a copy to the wrong place shows. */
  async function setUp(name: string, count: number, size: number): Promise<{ image: string; jobs: CopyJob[]; sources: Buffer[] }> {
    const blocksEach = Math.ceil(size / BLOCK);
    const image = path.join(dir, `${name}.img`);
    await writeFile(image, '');
    await truncate(image, count * blocksEach * BLOCK);
    const jobs: CopyJob[] = [];
    const sources: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const bytes = Buffer.alloc(size, i + 1);
      bytes.writeUInt32LE(i, 0);
      const source = path.join(dir, `${name}-${i}`);
      await writeFile(source, bytes);
      sources.push(bytes);
      const base = (count - 1 - i) * blocksEach;
      const firstHalf = Math.floor(blocksEach / 2);
      jobs.push({
        source,
        size,
        extents: [
          { logical: 0, physical: base + (blocksEach - firstHalf), length: firstHalf },
          { logical: firstHalf, physical: base, length: blocksEach - firstHalf },
        ],
      });
    }
    return { image, jobs, sources };
  }

  /** The image file as a raw disk of its own. */
  const target = (image: string) => ({ path: image, map: identityMap(2 ** 40) });

  async function expectCopied(image: string, jobs: CopyJob[], sources: Buffer[]): Promise<void> {
    const written = await readFile(image);
    jobs.forEach((job, i) => {
      const copied = Buffer.concat(job.extents.map((extent) => written.subarray(extent.physical * BLOCK, (extent.physical + extent.length) * BLOCK)));
      expect(copied.subarray(0, job.size).equals(sources[i]!), job.source).toBe(true);
    });
  }

  it('copies every file to its extents when the worker and the main thread share the batches', async () => {
    // 40 MiB is five batches: the worker starts on them before the main thread joins.
    const { image, jobs, sources } = await setUp('shared', 20, 2 * MiB + 1000);
    const copy = startFileCopy(target(image), BLOCK, jobs);
    await copy.finish();
    await expectCopied(image, jobs, sources);
  });

  it('writes through a map that puts the blocks elsewhere in the file, on both threads', async () => {
    // The filesystem's two halves are stored swapped, behind a 64 KiB header, as a qcow2 could hold them.
    const { image, jobs, sources } = await setUp('mapped', 20, 2 * MiB + 1000);
    const half = 10 * Math.ceil((2 * MiB + 1000) / BLOCK) * BLOCK;
    const header = 64 << 10;
    const map: HostMap = [
      { guest: 0, host: header + half, length: half },
      { guest: half, host: header, length: half },
    ];
    await truncate(image, header + 2 * half);
    await startFileCopy({ path: image, map }, BLOCK, jobs).finish();
    const stored = await readFile(image);
    const unswapped = path.join(dir, 'mapped-unswapped.img');
    await writeFile(unswapped, Buffer.concat([stored.subarray(header + half), stored.subarray(header, header + half)]));
    expect(stored.subarray(0, header).equals(Buffer.alloc(header))).toBe(true);
    await expectCopied(unswapped, jobs, sources);
  });

  it('refuses to write a block outside the map', async () => {
    const { image, jobs } = await setUp('unmapped', 3, 5000);
    const map: HostMap = [{ guest: 0, host: 0, length: BLOCK }];
    await expect(startFileCopy({ path: image, map }, BLOCK, jobs).finish()).rejects.toThrow('outside the space allocated');
  });

  it('copies a single small batch on the main thread alone', async () => {
    const { image, jobs, sources } = await setUp('small', 3, 5000);
    await startFileCopy(target(image), BLOCK, jobs).finish();
    await expectCopied(image, jobs, sources);
  });

  it('fails when a source shrank after the scan, whichever thread meets it', async () => {
    const { image, jobs } = await setUp('shrunk', 20, 2 * MiB);
    await truncate(jobs[17]!.source, MiB);
    await expect(startFileCopy(target(image), BLOCK, jobs).finish()).rejects.toThrow(`${jobs[17]!.source} is shorter than the ${2 * MiB} bytes`);
  });

  it('fails when a source grew after the scan', async () => {
    const { image, jobs } = await setUp('grown', 2, 5000);
    await writeFile(jobs[1]!.source, Buffer.alloc(6000));
    await expect(startFileCopy(target(image), BLOCK, jobs).finish()).rejects.toThrow(`${jobs[1]!.source} grew after the tree was scanned`);
  });

  it('stops with the abort reason', async () => {
    const { image, jobs } = await setUp('aborted', 20, 2 * MiB);
    const controller = new AbortController();
    const copy = startFileCopy(target(image), BLOCK, jobs, controller.signal);
    controller.abort(new Error('interrupted'));
    await expect(copy.finish()).rejects.toThrow('interrupted');
  });
});
