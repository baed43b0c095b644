/** nixdisk's own qcow2 tables: read back from the bytes alone, then by qemu-img check, info, compare and map. */
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ByteRange, HostRun } from '../../../src/image/disk/host-map.js';
import { createQcow2File, layOutQcow2, QCOW2_CLUSTER_BYTES, type Qcow2Layout } from '../../../src/image/disk/qcow2.js';

const C = QCOW2_CLUSTER_BYTES;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const CLUSTERS_PER_L2 = C / 8;
const COPIED = 2 ** 63;

/** The image as qemu would read it back from the metadata alone. */
interface Decoded {
  diskBytes: number;
  l1Entries: number;
  refcountBlocks: number;
  /** Host clusters with refcount 1 (every written refcount must be 1). */
  countedClusters: number;
  /** L1 indexes with an L2 table. */
  l2Indexes: number[];
  /** guest cluster → host offset, from the L2 tables. */
  clusters: Map<number, number>;
}

function readU64(bytes: Buffer, at: number): number {
  return bytes.readUInt32BE(at) * 2 ** 32 + bytes.readUInt32BE(at + 4);
}

/** Reads the tables back out of layout.metadata as a file would hold them. */
function decode(layout: Qcow2Layout): Decoded {
  const at = (offset: number): Buffer => {
    const write = layout.metadata.find((entry) => entry.offset === offset);
    if (!write) throw new Error(`no metadata write at ${offset}`);
    return write.bytes;
  };
  const header = at(0);
  expect(header.subarray(0, 4).toString('latin1')).toBe('QFI\xfb');
  expect(header.readUInt32BE(4)).toBe(3);
  expect(header.readUInt32BE(20)).toBe(16);
  expect(header.readUInt32BE(96)).toBe(4);
  expect(header.readUInt32BE(100)).toBe(112);
  const l1Entries = header.readUInt32BE(36);
  const refcountTable = at(readU64(header, 48));
  const refcountBlocks = refcountTable.length / 8;
  let countedClusters = 0;
  for (let block = 0; block < refcountBlocks; block++) {
    const refcounts = at(readU64(refcountTable, block * 8));
    const notOne = Array.from({ length: refcounts.length / 2 }, (_, entry) => refcounts.readUInt16BE(entry * 2)).filter((refcount) => refcount !== 1);
    expect(notOne).toEqual([]);
    countedClusters += refcounts.length / 2;
  }
  const l1 = at(readU64(header, 40));
  expect(l1.length).toBe(l1Entries * 8);
  const l2Indexes: number[] = [];
  const clusters = new Map<number, number>();
  for (let l1Index = 0; l1Index < l1Entries; l1Index++) {
    const l2Entry = readU64(l1, l1Index * 8);
    if (l2Entry === 0) continue;
    expect(l2Entry).toBeGreaterThanOrEqual(COPIED);
    l2Indexes.push(l1Index);
    const l2 = at(l2Entry - COPIED);
    for (let index = 0; index < CLUSTERS_PER_L2; index++) {
      const entry = readU64(l2, index * 8);
      if (entry === 0) continue;
      if (entry < COPIED) throw new Error(`L2 entry ${index} of L1 entry ${l1Index} lacks the COPIED flag`);
      clusters.set(l1Index * CLUSTERS_PER_L2 + index, entry - COPIED);
    }
  }
  return { diskBytes: readU64(header, 24), l1Entries, refcountBlocks, countedClusters, l2Indexes, clusters };
}

/** Checks what holds for every layout, and returns the decoded tables for case-specific checks. */
function checkInvariants(layout: Qcow2Layout, diskBytes: number): Decoded {
  const decoded = decode(layout);
  expect(decoded.diskBytes).toBe(diskBytes);
  expect(decoded.l1Entries).toBe(Math.ceil(diskBytes / (C * CLUSTERS_PER_L2)));
  expect(layout.fileBytes % C).toBe(0);
  // Dense file: every cluster up to the end is counted once, nothing past it.
  expect(decoded.countedClusters).toBe(layout.fileBytes / C);

  // Metadata in file order, each table at a cluster start, no overlaps, all before the data.
  let end = 0;
  for (const { offset, bytes } of layout.metadata) {
    expect(offset % C).toBe(0);
    expect(offset).toBeGreaterThanOrEqual(end);
    end = offset + bytes.length;
  }
  const metadataEnd = Math.ceil(end / C) * C;

  // Runs: cluster-aligned, maximal, sorted, data packed behind the metadata up to fileBytes.
  let host = metadataEnd;
  let previous: HostRun | undefined;
  const expanded = new Map<number, number>();
  for (const run of layout.map) {
    expect(run.guest % C).toBe(0);
    expect(run.length % C).toBe(0);
    expect(run.length).toBeGreaterThan(0);
    expect(run.host).toBe(host);
    if (previous) expect(run.guest).toBeGreaterThan(previous.guest + previous.length);
    expect(run.guest + run.length).toBeLessThanOrEqual(Math.ceil(diskBytes / C) * C);
    for (let offset = 0; offset < run.length; offset += C) expanded.set((run.guest + offset) / C, run.host + offset);
    host += run.length;
    previous = run;
  }
  expect(layout.fileBytes).toBe(host);
  expect(decoded.clusters).toEqual(expanded);
  return decoded;
}

interface LayoutCase {
  name: string;
  diskBytes: number;
  ranges: ByteRange[];
  map: HostRun[];
  l2Indexes: number[];
  refcountBlocks?: number;
}

// Metadata of a small disk: header, refcount table, one refcount block, L1, then the L2s.
const layoutCases: LayoutCase[] = [
  { name: 'nothing allocated', diskBytes: MiB, ranges: [], map: [], l2Indexes: [] },
  { name: 'empty ranges are ignored', diskBytes: MiB, ranges: [[5, 5], [MiB, MiB]], map: [], l2Indexes: [] },
  { name: 'one byte', diskBytes: MiB, ranges: [[0, 1]], map: [{ guest: 0, host: 5 * C, length: C }], l2Indexes: [0] },
  { name: 'a range crossing a cluster boundary', diskBytes: MiB, ranges: [[3 * C - 1, 3 * C + 1]], map: [{ guest: 2 * C, host: 5 * C, length: 2 * C }], l2Indexes: [0] },
  {
    name: 'overlapping, touching, repeated and unsorted ranges merge',
    diskBytes: MiB,
    ranges: [[3 * C + 5, 4 * C], [C, 2 * C + 1], [2 * C, 3 * C], [10, 20], [C, 2 * C + 1], [0, 5]],
    map: [{ guest: 0, host: 5 * C, length: 4 * C }],
    l2Indexes: [0],
  },
  {
    name: 'gaps give separate runs at consecutive host offsets',
    diskBytes: MiB,
    ranges: [[5 * C, 7 * C], [0, 1], [2 * C + 1, 3 * C]],
    map: [
      { guest: 0, host: 5 * C, length: C },
      { guest: 2 * C, host: 6 * C, length: C },
      { guest: 5 * C, host: 7 * C, length: 2 * C },
    ],
    l2Indexes: [0],
  },
  {
    name: 'the last, partial cluster is mapped whole',
    diskBytes: 10 * C + 4096,
    ranges: [[10 * C + 4000, 10 * C + 4096], [9 * C + 7, 9 * C + 8]],
    map: [{ guest: 9 * C, host: 5 * C, length: 2 * C }],
    l2Indexes: [0],
  },
  {
    name: 'a disk over 512 MiB gets L2 tables only where data is',
    diskBytes: 1536 * MiB,
    ranges: [[1 * GiB + 5, 1 * GiB + 6], [0, 1]],
    map: [
      { guest: 0, host: 6 * C, length: C },
      { guest: 1 * GiB, host: 7 * C, length: C },
    ],
    l2Indexes: [0, 2],
  },
  {
    name: 'a run across an L2 boundary uses both L2 tables',
    diskBytes: 1536 * MiB,
    ranges: [[512 * MiB - 1, 512 * MiB + 1]],
    map: [{ guest: 512 * MiB - C, host: 6 * C, length: 2 * C }],
    l2Indexes: [0, 1],
  },
  {
    // 1 header + 1 refcount table + 1 block + 1 L1 + 4 L2 + 32760 data = 32768: just fits one block.
    name: 'a file of exactly one refcount block',
    diskBytes: 3 * GiB,
    ranges: [[0, 32760 * C]],
    map: [{ guest: 0, host: 8 * C, length: 32760 * C }],
    l2Indexes: [0, 1, 2, 3],
    refcountBlocks: 1,
  },
  {
    // One more data cluster needs a second block, which then counts itself too.
    name: 'one cluster more needs a second refcount block',
    diskBytes: 3 * GiB,
    ranges: [[0, 32761 * C]],
    map: [{ guest: 0, host: 9 * C, length: 32761 * C }],
    l2Indexes: [0, 1, 2, 3],
    refcountBlocks: 2,
  },
];

describe('layOutQcow2', () => {
  it.each(layoutCases)('$name', ({ diskBytes, ranges, map, l2Indexes, refcountBlocks = 1 }) => {
    const layout = layOutQcow2(diskBytes, ranges);
    expect(layout.map).toEqual(map);
    const decoded = checkInvariants(layout, diskBytes);
    expect(decoded.l2Indexes).toEqual(l2Indexes);
    expect(decoded.refcountBlocks).toBe(refcountBlocks);
  });

  it('takes any iterable and is a pure function of its inputs', () => {
    const ranges: ByteRange[] = [[7 * C, 9 * C], [0, 3 * C + 1]];
    function* generate(): Generator<ByteRange> {
      yield* ranges;
    }
    expect(layOutQcow2(20 * C, generate())).toEqual(layOutQcow2(20 * C, ranges));
  });

  it('lays out a 100 GiB disk with 300 000 ranges in well under a second', () => {
    const diskBytes = 100 * GiB;
    // MINSTD: its products stay below 2^53, so doubles compute it exactly.
    const modulus = 2 ** 31 - 1;
    let seed = 12345;
    const next = (): number => (seed = (seed * 48271) % modulus);
    const ranges: ByteRange[] = [];
    for (let index = 0; index < 300_000; index++) {
      const start = Math.floor((next() / modulus) * (diskBytes - MiB));
      ranges.push([start, start + (next() % (256 * 1024))]);
    }
    const began = performance.now();
    const layout = layOutQcow2(diskBytes, ranges);
    expect(performance.now() - began).toBeLessThan(1000);
    expect(layout.map.length).toBeGreaterThan(100_000);
    expect(layout.metadata.at(-1)!.offset + C).toBe(layout.map[0].host);
  });

  it.each([
    ['zero disk size', 0, [], /disk size 0 is not a positive safe integer/],
    ['negative disk size', -C, [], /not a positive safe integer/],
    ['fractional disk size', C + 0.5, [], /not a positive safe integer/],
    ['NaN disk size', NaN, [], /not a positive safe integer/],
    ['unsafe disk size', 2 ** 53, [], /not a positive safe integer/],
    ['disk too big for an L1 table qemu opens', 2 ** 52, [], /L1 table larger than/],
    ['a range that starts after it ends', MiB, [[10, 5]], /\[10, 5\) ends before it starts/],
    ['a negative range', MiB, [[-1, 5]], /\[-1, 5\) starts before the disk/],
    ['a range past the disk', MiB, [[0, MiB + 1]], /ends past the disk's 1048576 bytes/],
    ['an empty range past the disk', MiB, [[MiB + 1, MiB + 1]], /ends past the disk/],
    ['a fractional bound', MiB, [[0, 0.5]], /not a safe integer/],
  ] as [string, number, ByteRange[], RegExp][])('rejects %s', (_name, diskBytes, ranges, message) => {
    expect(() => layOutQcow2(diskBytes, ranges)).toThrow(message);
  });
});

interface MapEntry {
  start: number;
  length: number;
  data: boolean;
  offset?: number;
}

describe('createQcow2File, as qemu-img reads it', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nixdisk-qcow2-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A few distinct nonzero bytes at each end of every range, not whole GiBs. */
  function* patternWrites(ranges: ByteRange[]): Generator<{ guest: number; bytes: Buffer }> {
    for (const [index, [start, end]] of ranges.entries()) {
      if (start === end) continue;
      const length = Math.min(8, end - start);
      const bytes = (salt: number): Buffer => Buffer.from(Array.from({ length }, (_, k) => ((index * 37 + salt * 11 + k * 3) % 255) + 1));
      yield { guest: start, bytes: bytes(0) };
      yield { guest: end - length, bytes: bytes(1) };
    }
  }

  function hostOffset(layout: Qcow2Layout, guest: number, length: number): number {
    const run = layout.map.find((candidate) => candidate.guest <= guest && guest + length <= candidate.guest + candidate.length);
    if (!run) throw new Error(`guest ${guest} is not mapped`);
    return run.host + (guest - run.guest);
  }

  const qemuImg = (args: string[]) => execa('qemu-img', args, { reject: false });

  const toolCases: { name: string; diskBytes: number; ranges: ByteRange[]; refcountBlocks?: number; l2Tables?: number }[] = [
    { name: 'nothing allocated', diskBytes: MiB, ranges: [] },
    {
      // 4096 past the last whole cluster: qemu rounds the virtual size down to 512-byte sectors.
      name: 'mixed ranges and a partial last cluster',
      diskBytes: 10 * MiB + 4096,
      ranges: [[3 * C + 5, 4 * C], [C, 2 * C + 1], [2 * C, 3 * C], [10, 20], [7 * C + 1, 7 * C + 2], [10 * MiB + 100, 10 * MiB + 4096], [5 * MiB - 3, 5 * MiB + 3]],
    },
    {
      name: 'over 512 MiB, two L2 tables apart',
      diskBytes: 1536 * MiB,
      ranges: [[1 * GiB + 5, 1 * GiB + 70_000], [0, 1], [1536 * MiB - 8, 1536 * MiB]],
      l2Tables: 2,
    },
    {
      name: 'over 32768 host clusters, two refcount blocks',
      diskBytes: 3 * GiB,
      ranges: [[0, 32761 * C], [3 * GiB - 100, 3 * GiB]],
      refcountBlocks: 2,
      l2Tables: 5,
    },
  ];

  it.each(toolCases)('$name', async ({ name, diskBytes, ranges, refcountBlocks = 1, l2Tables }) => {
    const layout = layOutQcow2(diskBytes, ranges);
    const decoded = checkInvariants(layout, diskBytes);
    expect(decoded.refcountBlocks).toBe(refcountBlocks);
    if (l2Tables !== undefined) expect(decoded.l2Indexes).toHaveLength(l2Tables);

    const stem = join(dir, name.replace(/\W+/g, '-'));
    const qcow2 = `${stem}.qcow2`;
    const raw = `${stem}.raw`;
    await createQcow2File(qcow2, layout);
    expect((await stat(qcow2)).size).toBe(layout.fileBytes);

    const qcow2Handle = await open(qcow2, 'r+');
    const rawHandle = await open(raw, 'wx');
    try {
      await rawHandle.truncate(diskBytes);
      for (const { guest, bytes } of patternWrites(ranges)) {
        await qcow2Handle.write(bytes, 0, bytes.length, hostOffset(layout, guest, bytes.length));
        await rawHandle.write(bytes, 0, bytes.length, guest);
      }
    } finally {
      await qcow2Handle.close();
      await rawHandle.close();
    }

    const check = await qemuImg(['check', '-f', 'qcow2', qcow2]);
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('No errors were found on the image.');
    expect(check.stdout + check.stderr).not.toMatch(/leak/i);
    const checkJson = JSON.parse((await qemuImg(['check', '-f', 'qcow2', '--output=json', qcow2])).stdout);
    expect(checkJson).not.toHaveProperty('leaks');
    expect(checkJson['check-errors']).toBe(0);
    expect(checkJson['image-end-offset']).toBe(layout.fileBytes);
    // qemu-img leaves the cluster statistics out when no cluster is allocated.
    expect(checkJson['allocated-clusters'] ?? 0).toBe(decoded.clusters.size);

    const info = JSON.parse((await qemuImg(['info', '-f', 'qcow2', '--output=json', qcow2])).stdout);
    expect(info.format).toBe('qcow2');
    expect(info['virtual-size']).toBe(diskBytes);
    expect(info['cluster-size']).toBe(C);
    expect(info['format-specific'].data).toMatchObject({ compat: '1.1', 'refcount-bits': 16, corrupt: false });

    const compare = await qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', raw, qcow2]);
    expect(compare.exitCode, compare.stdout + compare.stderr).toBe(0);
    expect(compare.stdout).toContain('Images are identical.');

    // qemu splits data extents where the host file turns from written to hole; join them back.
    const entries: MapEntry[] = JSON.parse((await qemuImg(['map', '-f', 'qcow2', '--output=json', qcow2])).stdout);
    const dataRuns: HostRun[] = [];
    for (const entry of entries.filter((candidate) => candidate.data)) {
      const last = dataRuns.at(-1);
      if (last && last.guest + last.length === entry.start && last.host + last.length === entry.offset) last.length += entry.length;
      else dataRuns.push({ guest: entry.start, host: entry.offset!, length: entry.length });
    }
    expect(dataRuns).toEqual(layout.map.map((run) => ({ ...run, length: Math.min(run.length, diskBytes - run.guest) })));
  });

  it('refuses to overwrite an existing file', async () => {
    const path = join(dir, 'existing.qcow2');
    const layout = layOutQcow2(MiB, [[0, 1]]);
    await createQcow2File(path, layout);
    await expect(createQcow2File(path, layout)).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
