/** The guest-to-file map arithmetic: windows, merging, and writes split across runs. */
import { describe, expect, it } from 'vitest';
import { identityMap, intersectRanges, mergedRanges, windowOf, writeMapped, type ByteRange, type HostMap } from '../../../src/image/disk/host-map.js';

const qcow2Like: HostMap = [
  { guest: 0, host: 0x30000, length: 0x10000 },
  { guest: 0x20000, host: 0x40000, length: 0x20000 },
];

describe('windowOf', () => {
  it.each<{ name: string; map: HostMap; offset: number; length: number; window: HostMap }>([
    { name: 'a raw disk, at a partition', map: identityMap(0x100000), offset: 0x8000, length: 0x1000, window: [{ guest: 0, host: 0x8000, length: 0x1000 }] },
    { name: 'runs clipped at both ends', map: qcow2Like, offset: 0x8000, length: 0x20000, window: [{ guest: 0, host: 0x38000, length: 0x8000 }, { guest: 0x18000, host: 0x40000, length: 0x8000 }] },
    { name: 'a window in a gap', map: qcow2Like, offset: 0x10000, length: 0x10000, window: [] },
    { name: 'the whole map', map: qcow2Like, offset: 0, length: 0x40000, window: qcow2Like },
  ])('$name', ({ map, offset, length, window }) => {
    expect(windowOf(map, offset, length)).toEqual(window);
  });
});

describe('mergedRanges', () => {
  it.each<{ name: string; ranges: ByteRange[]; offset: number; merged: ByteRange[] }>([
    { name: 'nothing', ranges: [], offset: 0, merged: [] },
    { name: 'empty ranges dropped', ranges: [[5, 5], [1, 2]], offset: 0, merged: [[1, 2]] },
    { name: 'unsorted and overlapping', ranges: [[10, 20], [0, 4], [15, 30], [4, 6]], offset: 0, merged: [[0, 6], [10, 30]] },
    { name: 'touching ranges joined, then shifted', ranges: [[0, 4], [4, 8], [9, 10]], offset: 100, merged: [[100, 108], [109, 110]] },
  ])('$name', ({ ranges, offset, merged }) => {
    expect(mergedRanges(ranges, offset)).toEqual(merged);
  });
});

describe('intersectRanges', () => {
  it.each<{ name: string; a: ByteRange[]; b: ByteRange[]; both: ByteRange[] }>([
    { name: 'one side empty', a: [[0, 10]], b: [], both: [] },
    { name: 'disjoint', a: [[0, 10]], b: [[10, 20]], both: [] },
    { name: 'one range inside another', a: [[0, 100]], b: [[10, 20], [30, 40]], both: [[10, 20], [30, 40]] },
    { name: 'ranges straddling each other', a: [[0, 15], [25, 50]], b: [[10, 30], [45, 60]], both: [[10, 15], [25, 30], [45, 50]] },
  ])('$name', ({ a, b, both }) => {
    expect(intersectRanges(a, b)).toEqual(both);
    expect(intersectRanges(b, a)).toEqual(both);
  });
});

describe('writeMapped', () => {
  /** A pretend file: records every write as [position, bytes]. */
  function recorder() {
    const writes: [number, string][] = [];
    return {
      writes,
      files: {
        writeSync(_fd: number, buffer: Uint8Array, offset: number, length: number, position: number) {
          // Short writes, to show the loop finishes them.
          const count = Math.min(length, 3);
          writes.push([position, Buffer.from(buffer.subarray(offset, offset + count)).toString()]);
          return count;
        },
      },
    };
  }
  const map: HostMap = [
    { guest: 0, host: 100, length: 4 },
    { guest: 4, host: 200, length: 4 },
    { guest: 10, host: 300, length: 4 },
  ];

  it('splits a write across runs and finishes short writes', () => {
    const { files, writes } = recorder();
    writeMapped(files, 0, map, Buffer.from('xabcdefg'), 1, 7, 1);
    expect(writes).toEqual([
      [101, 'abc'],
      [200, 'def'],
      [203, 'g'],
    ]);
  });

  it.each([
    { name: 'before the first run', guest: -1, length: 1 },
    { name: 'in a gap', guest: 8, length: 1 },
    { name: 'running into a gap', guest: 6, length: 4 },
    { name: 'past the last run', guest: 14, length: 1 },
  ])('refuses a write $name', ({ guest, length }) => {
    const { files } = recorder();
    expect(() => writeMapped(files, 0, map, Buffer.alloc(length), 0, length, guest)).toThrow('outside the space allocated');
  });
});
