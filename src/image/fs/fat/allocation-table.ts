/**
 * Reading and writing entries of a file allocation table held in memory: FAT12 packs
 * two 12-bit entries into three bytes, FAT16 and FAT32 are little-endian words (FAT32
 * uses the low 28 bits and keeps the high 4 as they were).
 */
import type { FatType } from './boot-sector.js';

/** The end-of-chain mark each FAT type's drivers write (any value from …FF8 up means it). */
export function endOfChain(fatType: FatType): number {
  return fatType === 12 ? 0xfff : fatType === 16 ? 0xffff : 0x0fffffff;
}

export function fatEntry(table: Buffer, fatType: FatType, cluster: number): number {
  if (fatType === 16) return table.readUInt16LE(cluster * 2);
  if (fatType === 32) return table.readUInt32LE(cluster * 4) & 0x0fffffff;
  const pair = table.readUInt16LE(Math.floor((cluster * 3) / 2));
  return cluster % 2 === 0 ? pair & 0x0fff : pair >> 4;
}

export function setFatEntry(table: Buffer, fatType: FatType, cluster: number, value: number): void {
  if (fatType === 16) {
    table.writeUInt16LE(value, cluster * 2);
  } else if (fatType === 32) {
    table.writeUInt32LE(((table.readUInt32LE(cluster * 4) & 0xf0000000) | value) >>> 0, cluster * 4);
  } else {
    const at = Math.floor((cluster * 3) / 2);
    const pair = table.readUInt16LE(at);
    table.writeUInt16LE(cluster % 2 === 0 ? (pair & 0xf000) | value : (pair & 0x000f) | (value << 4), at);
  }
}

/** Links the `length` clusters from `start` into one chain ending in an end-of-chain mark. */
export function linkRun(table: Buffer, fatType: FatType, start: number, length: number): void {
  for (let cluster = start; cluster < start + length - 1; cluster++) setFatEntry(table, fatType, cluster, cluster + 1);
  setFatEntry(table, fatType, start + length - 1, endOfChain(fatType));
}

/** Whether a FAT entry's value ends its chain. */
function endsChain(fatType: FatType, value: number): boolean {
  return value >= endOfChain(fatType) - 7;
}

/** The clusters of the chain that starts at `first`, in order; throws on a loop or a cluster outside 2 … `clusterCount` + 1. */
export function followChain(table: Buffer, fatType: FatType, first: number, clusterCount: number): number[] {
  const chain: number[] = [];
  for (let cluster = first; !endsChain(fatType, cluster); cluster = fatEntry(table, fatType, cluster)) {
    if (cluster < 2 || cluster > clusterCount + 1 || chain.length > clusterCount) {
      throw new Error(`the FAT chain from cluster ${first} is broken at cluster ${cluster}`);
    }
    chain.push(cluster);
  }
  return chain;
}

/** The first cluster from which every cluster up to the last (`clusterCount` + 1) is free: where a fresh filesystem's free space begins. */
export function freeTailStart(table: Buffer, fatType: FatType, clusterCount: number): number {
  let cluster = clusterCount + 2;
  while (cluster > 2 && fatEntry(table, fatType, cluster - 1) === 0) cluster--;
  return cluster;
}

export function countFree(table: Buffer, fatType: FatType, clusterCount: number): number {
  let free = 0;
  for (let cluster = 2; cluster < clusterCount + 2; cluster++) if (fatEntry(table, fatType, cluster) === 0) free++;
  return free;
}
