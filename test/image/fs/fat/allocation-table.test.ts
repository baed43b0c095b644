import { describe, expect, it } from 'vitest';
import { countFree, fatEntry, followChain, freeTailStart, linkRun, setFatEntry } from '../../../../src/image/fs/fat/allocation-table.js';
import type { FatType } from '../../../../src/image/fs/fat/boot-sector.js';

/** A table as mkfs.vfat starts it (media byte F8, cluster 1 end-of-chain; FAT32's root at cluster 2), padded with zeros. */
function freshTable(fatType: FatType, bytes: number): Buffer {
  const start = { 12: 'f8ffff', 16: 'f8ffffff', 32: 'f8ffff0fffffff0ff8ffff0f' }[fatType];
  return Buffer.concat([Buffer.from(start, 'hex'), Buffer.alloc(bytes - start.length / 2)]);
}

describe('linkRun', () => {
  it.each<[string, FatType, [start: number, length: number][], string]>([
    ['FAT12: eight one-cluster files, as mtools left them', 12, [2, 3, 4, 5, 6, 7, 8, 9].map((cluster) => [cluster, 1]), 'f8ffff' + 'ff'.repeat(12) + '000000'],
    ['FAT12: a chain of three, an even and an odd entry sharing bytes', 12, [[2, 3]], 'f8ffff' + '034000' + 'ff0f00' + '000000'],
    ['FAT12: a chain from an odd cluster', 12, [[3, 2]], 'f8ffff' + '004000' + 'ff0f00' + '000000'],
    ['FAT16: a chain of two after the reserved entries', 16, [[2, 2]], 'f8ffffff' + '0300ffff' + '00000000'],
    ['FAT32: a chain of two after the root cluster', 32, [[3, 2]], 'f8ffff0fffffff0ff8ffff0f' + '04000000ffffff0f' + '00000000'],
  ])('%s', (_name, fatType, runs, expected) => {
    const table = freshTable(fatType, expected.length / 2);
    for (const [start, length] of runs) linkRun(table, fatType, start, length);
    expect(table.toString('hex')).toBe(expected);
  });
});

describe('fatEntry and setFatEntry', () => {
  it.each<[FatType, number]>([
    [12, 0xabc],
    [16, 0xabcd],
    [32, 0x0abcdef1],
  ])('FAT%i: reads back what was set, neighbours untouched', (fatType, value) => {
    const table = freshTable(fatType, 64);
    for (const cluster of [4, 5]) {
      setFatEntry(table, fatType, cluster, value);
      expect(fatEntry(table, fatType, cluster)).toBe(value);
    }
    expect([3, 6].map((cluster) => fatEntry(table, fatType, cluster))).toEqual([0, 0]);
  });

  it('FAT32 keeps the reserved high four bits of an entry', () => {
    const table = Buffer.from('00000000000000000000000000000090', 'hex');
    setFatEntry(table, 32, 3, 7);
    expect(table.readUInt32LE(12)).toBe(0x90000007);
    expect(fatEntry(table, 32, 3)).toBe(7);
  });
});

describe('followChain', () => {
  it.each<[string, FatType, number, number[]]>([
    ['FAT32 root of one cluster', 32, 2, [2]],
    ['a chain of three', 16, 5, [5, 6, 7]],
  ])('%s', (_name, fatType, first, chain) => {
    const table = freshTable(fatType, 64);
    linkRun(table, fatType, 5, 3);
    expect(followChain(table, fatType, first, 10)).toEqual(chain);
  });

  it.each([
    ['into a free cluster', (table: Buffer) => setFatEntry(table, 16, 5, 0), /broken at cluster 0/],
    ['past the last cluster', (table: Buffer) => setFatEntry(table, 16, 5, 12), /broken at cluster 12/],
    ['round in a loop', (table: Buffer) => setFatEntry(table, 16, 6, 5), /broken at cluster/],
  ])('refuses a chain that runs %s', (_name, damage, message) => {
    const table = freshTable(16, 64);
    linkRun(table, 16, 5, 2);
    damage(table);
    expect(() => followChain(table, 16, 5, 10)).toThrow(message);
  });
});

describe('freeTailStart and countFree', () => {
  it.each<[string, FatType, [number, number][], number, number]>([
    ['a fresh FAT16: all of 2 … 11 free', 16, [], 2, 10],
    ['a fresh FAT32: the root takes cluster 2', 32, [], 3, 9],
    ['a hole before the last used cluster is not in the tail', 12, [[2, 1], [5, 2]], 7, 7],
    ['a full table', 16, [[2, 10]], 12, 0],
  ])('%s', (_name, fatType, runs, tail, free) => {
    const table = freshTable(fatType, 64);
    for (const [start, length] of runs) linkRun(table, fatType, start, length);
    expect(freeTailStart(table, fatType, 10)).toBe(tail);
    expect(countFree(table, fatType, 10)).toBe(free);
  });
});
