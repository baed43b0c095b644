/**
 * parseBootSector against the start of boot sectors mkfs.vfat 4.2 wrote (`mkfs.vfat
 * --invariant -i 12345678 -n ESP` on files of 2, 64 and 600 MiB: FAT12, FAT16, FAT32;
 * up to the FSInfo and backup sector numbers), with the cluster counts fsck.fat reports
 * for them.
 */
import { describe, expect, it } from 'vitest';
import { clusterOffset, parseBootSector, type FatGeometry } from '../../../../src/image/fs/fat/boot-sector.js';

function bootSector(firstBytesHex: string, change: (sector: Buffer) => void = () => {}): Buffer {
  const sector = Buffer.alloc(512);
  Buffer.from(firstBytesHex, 'hex').copy(sector);
  sector.writeUInt16LE(0xaa55, 510);
  change(sector);
  return sector;
}

const MKFS_2_MIB = 'eb3c906d6b66732e66617400020401000200020010f80300100002000000000000000000800029785634124553502020';
const MKFS_64_MIB = 'eb3c906d6b66732e66617400020404000200020000f88000200008000000000000000200800029785634124553502020';
const MKFS_600_MIB = 'eb58906d6b66732e66617400020820000200000000f800003f00200000000000d0bf1200b0040000000000000200000001000600';

describe('parseBootSector', () => {
  it.each<[string, Buffer, FatGeometry]>([
    [
      'FAT12, 2 MiB: 1 reserved sector, two 3-sector FATs, 512 root slots',
      bootSector(MKFS_2_MIB),
      { fatType: 12, bytesPerSector: 512, clusterBytes: 2048, fatOffsets: [512, 2048], fatBytes: 1536, fixedRoot: { offset: 3584, slots: 512 }, rootCluster: 0, dataOffset: 19968, clusterCount: 1014, fsInfoOffset: null },
    ],
    [
      'FAT16, 64 MiB: 4 reserved sectors, two 128-sector FATs',
      bootSector(MKFS_64_MIB),
      { fatType: 16, bytesPerSector: 512, clusterBytes: 2048, fatOffsets: [2048, 67584], fatBytes: 65536, fixedRoot: { offset: 133120, slots: 512 }, rootCluster: 0, dataOffset: 149504, clusterCount: 32695, fsInfoOffset: null },
    ],
    [
      'FAT32, 600 MiB: 32 reserved sectors, two 1200-sector FATs, root at cluster 2, FSInfo in sector 1',
      bootSector(MKFS_600_MIB),
      { fatType: 32, bytesPerSector: 512, clusterBytes: 4096, fatOffsets: [16384, 630784], fatBytes: 614400, fixedRoot: null, rootCluster: 2, dataOffset: 1245184, clusterCount: 153290, fsInfoOffset: 512 },
    ],
    [
      'FAT32 with mirroring off (extended flags 0x81): only the second FAT is kept',
      bootSector(MKFS_600_MIB, (sector) => sector.writeUInt16LE(0x81, 0x28)),
      { fatType: 32, bytesPerSector: 512, clusterBytes: 4096, fatOffsets: [630784], fatBytes: 614400, fixedRoot: null, rootCluster: 2, dataOffset: 1245184, clusterCount: 153290, fsInfoOffset: 512 },
    ],
    [
      'FAT16 sizes with fewer than 4085 clusters are FAT12, whatever the type string says',
      bootSector(MKFS_64_MIB, (sector) => sector.writeUInt8(64, 0x0d)),
      { fatType: 12, bytesPerSector: 512, clusterBytes: 32768, fatOffsets: [2048, 67584], fatBytes: 65536, fixedRoot: { offset: 133120, slots: 512 }, rootCluster: 0, dataOffset: 149504, clusterCount: 2043, fsInfoOffset: null },
    ],
  ])('%s', (_name, sector, geometry) => {
    expect(parseBootSector(sector)).toEqual(geometry);
  });

  it.each<[string, Buffer, RegExp]>([
    ['a sector without 55 AA', bootSector(MKFS_2_MIB, (sector) => sector.writeUInt16LE(0, 510)), /not a FAT boot sector: no 55 AA signature/],
    ['an ext4 superblock area (all zeros but the signature)', bootSector(''), /not a FAT boot sector: 0 bytes per sector, 0 sectors per cluster, no reserved sectors, no FAT/],
    ['3 sectors per cluster', bootSector(MKFS_2_MIB, (sector) => sector.writeUInt8(3, 0x0d)), /3 sectors per cluster/],
    ['FATs that leave no data clusters', bootSector(MKFS_2_MIB, (sector) => sector.writeUInt16LE(8, 0x13)), /no room for data clusters/],
    ['a short read', Buffer.alloc(100), /a FAT boot sector is 512 bytes, got 100/],
  ])('refuses %s', (_name, sector, message) => {
    expect(() => parseBootSector(sector)).toThrow(message);
  });
});

describe('clusterOffset', () => {
  it.each([
    [2, 19968],
    [3, 22016],
    [1015, 2094592],
  ])('cluster %i of the 2 MiB FAT12 is at byte %i', (cluster, offset) => {
    expect(clusterOffset(parseBootSector(bootSector(MKFS_2_MIB)), cluster)).toBe(offset);
  });
});
