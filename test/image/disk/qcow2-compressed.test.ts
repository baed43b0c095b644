/**
 * nixdisk's own qcow2-compressed, read back by the real qemu-img: check clean, compare
 * equal to the raw disk it came from, map showing only the clusters with data; the same
 * bytes with one thread and with several; about the size qemu-img's own makes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRawDisk } from '../../helpers/raw-disk.js';
import { compressedDescriptor, writeCompressedQcow2 } from '../../../src/image/disk/qcow2-compressed.js';

const C = 65536;
const MiB = 1 << 20;

describe('compressedDescriptor', () => {
  // cluster_bits 16: host offset in bits 0-53, additional sectors in bits 54-61, bit 62 set.
  it.each([
    { offset: C, length: 1, high: 0x4000_0000, low: C },
    { offset: C, length: 512, high: 0x4000_0000, low: C },
    { offset: C, length: 513, high: 0x4040_0000, low: C },
    { offset: C + 511, length: 2, high: 0x4040_0000, low: C + 511 },
    { offset: 2 ** 33 + 100, length: C - 1, high: 0x4000_0002 + 128 * 0x40_0000, low: 100 },
  ])('$offset + $length bytes', ({ offset, length, high, low }) => {
    expect(compressedDescriptor(offset, length)).toEqual({ high, low });
  });
});

/** A text-like run that deflates well but not to nothing, different at every offset. */
function compressible(bytes: number, salt: number): Buffer {
  const words = ['nix', 'store', 'lib', 'bin', 'share', 'x86_64', 'linux', 'glibc', '.so', '\n'];
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += words[(i * 7 + salt + (i >> 5)) % words.length]! + (i % 97).toString(16);
  return Buffer.from(text.slice(0, bytes), 'latin1');
}

describe('writeCompressedQcow2, as qemu-img reads it', () => {
  let dir: string;
  let raw: string;
  /** Past 512 MiB (a second L2 table) and not a whole number of clusters: a partial last cluster. */
  const DISK_BYTES = 513 * MiB + 3 * 4096 + 512;
  /** [guest offset, bytes]: compressible runs across cluster boundaries, incompressible clusters, zero runs between. */
  const writes: [number, Buffer][] = [
    [0, compressible(3 * C + 123, 1)],
    [5 * C - 700, randomBytes(3 * C + 1400)],
    [9 * C, compressible(200, 2)],
    [9 * C + 30_000, randomBytes(40_000)],
    [40 * C + 17, compressible(200 * C, 3)],
    [300 * C, Buffer.alloc(C, 0xab)],
    [512 * MiB - 5000, compressible(10_000, 4)],
    [DISK_BYTES - 2000, randomBytes(2000)],
  ];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nixdisk-qcow2c-'));
    raw = join(dir, 'disk.raw');
    await writeRawDisk(raw, DISK_BYTES, writes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const qemuImg = (args: string[]) => execa('qemu-img', args, { reject: false });

  it('is clean, equal to the raw disk, stores only clusters with data, and the same bytes with 1 and 3 threads', async () => {
    const one = join(dir, 'one.qcow2');
    const three = join(dir, 'three.qcow2');
    const progress: number[] = [];
    await writeCompressedQcow2(raw, DISK_BYTES, one, { threads: 1, onProgress: (done, total) => (expect(total).toBe(DISK_BYTES), progress.push(done)) });
    await writeCompressedQcow2(raw, DISK_BYTES, three, { threads: 3 });
    expect((await readFile(one)).equals(await readFile(three))).toBe(true);
    expect(progress.at(-1)).toBe(DISK_BYTES);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    const check = await qemuImg(['check', '--output=json', one]);
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    const report = JSON.parse(check.stdout);
    expect(report['check-errors']).toBe(0);
    expect(report).not.toHaveProperty('leaks');
    expect(report).not.toHaveProperty('corruptions');
    // Clusters with data: 0-3, 4-8 (random, straddling), 9-10, 40-240, 300, two at 512 MiB, the last.
    const dataClusters = 4 + 5 + 2 + 201 + 1 + 2 + 1;
    expect(report['allocated-clusters']).toBe(dataClusters);
    expect(report['compressed-clusters']).toBeGreaterThan(0);
    // The random clusters do not shrink: they, and only they, are stored uncompressed.
    expect(report['compressed-clusters']).toBeLessThan(dataClusters);

    const compare = await qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', raw, one]);
    expect(compare.exitCode, compare.stdout + compare.stderr).toBe(0);

    const info = JSON.parse((await qemuImg(['info', '--output=json', one])).stdout);
    expect(info['virtual-size']).toBe(DISK_BYTES);
    expect(info['format-specific'].data['compression-type']).toBe('zlib');

    const map: { start: number; length: number; data: boolean }[] = JSON.parse((await qemuImg(['map', '--output=json', one])).stdout);
    const mapped = map.filter((entry) => entry.data).reduce((sum, entry) => sum + entry.length, 0);
    expect(mapped).toBe(dataClusters * C - (C * Math.ceil(DISK_BYTES / C) - DISK_BYTES));
    expect(map.find((entry) => entry.start <= 20 * C && 20 * C < entry.start + entry.length)!.data).toBe(false);
  });

  it('is within 2% of the size qemu-img convert -c makes', async () => {
    const ours = join(dir, 'ours.qcow2');
    const theirs = join(dir, 'theirs.qcow2');
    await writeCompressedQcow2(raw, DISK_BYTES, ours, { threads: 2 });
    await execa('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, theirs]);
    const [oursBytes, theirsBytes] = [(await stat(ours)).size, (await stat(theirs)).size];
    expect(oursBytes).toBeLessThanOrEqual(theirsBytes * 1.02);
  });

  it('leaves nothing behind when stopped with batches under way', async () => {
    const stopped = join(dir, 'stopped.qcow2');
    const stop = new AbortController();
    const run = writeCompressedQcow2(raw, DISK_BYTES, stopped, { threads: 2, signal: stop.signal, onProgress: () => stop.abort(new Error('stopped here')) });
    await expect(run).rejects.toThrow('stopped here');
    await expect(stat(stopped)).rejects.toThrow(/ENOENT/);
  });

  it('stops at a signal that comes from the event loop when the calling thread deflates every batch (one thread)', async () => {
    const stopped = join(dir, 'one-thread-stopped.qcow2');
    const stop = new AbortController();
    let placed = 0;
    const onProgress = () => {
      // As a signal handler would: on a later turn of the event loop, not inside the writer's call.
      if (++placed === 1) setImmediate(() => stop.abort(new Error('stopped from the event loop')));
    };
    await expect(writeCompressedQcow2(raw, DISK_BYTES, stopped, { threads: 1, signal: stop.signal, onProgress })).rejects.toThrow('stopped from the event loop');
    // 216 clusters with data make 14 batches: it stopped near the first, not after the last.
    expect(placed).toBeLessThan(4);
    await expect(stat(stopped)).rejects.toThrow(/ENOENT/);
  });
});
