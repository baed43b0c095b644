/**
 * The geometry of a FAT filesystem as its boot sector (the BIOS parameter block that
 * mkfs.vfat wrote) describes it: where the FATs, the root directory and the clusters
 * are. Offsets follow Microsoft's FAT specification (fatgen103).
 */

export type FatType = 12 | 16 | 32;

export interface FatGeometry {
  fatType: FatType;
  bytesPerSector: number;
  clusterBytes: number;
  /** Byte offsets of the FAT copies that are kept up to date (all of them unless FAT32 mirroring is off). */
  fatOffsets: number[];
  fatBytes: number;
  /** FAT12/16's fixed root directory; null on FAT32, whose root is a cluster chain. */
  fixedRoot: { offset: number; slots: number } | null;
  /** FAT32's first root directory cluster; 0 on FAT12/16. */
  rootCluster: number;
  /** Byte offset of cluster 2, the first data cluster. */
  dataOffset: number;
  /** Data clusters, numbered 2 … clusterCount + 1. */
  clusterCount: number;
  /** Byte offset of FAT32's FSInfo sector; null on FAT12/16 or when the boot sector names none. */
  fsInfoOffset: number | null;
}

/** Fewer data clusters than these make FAT12, then FAT16 (fatgen103 "FAT type determination"). */
const FAT12_CLUSTER_LIMIT = 4085;

const isPowerOfTwo = (value: number) => value > 0 && (value & (value - 1)) === 0;

/** The geometry of the boot sector `sector` (at least its first 512 bytes); throws on anything but a FAT boot sector; pure. */
export function parseBootSector(sector: Uint8Array): FatGeometry {
  if (sector.length < 512) throw new Error(`a FAT boot sector is 512 bytes, got ${sector.length}`);
  const view = Buffer.from(sector.buffer, sector.byteOffset, sector.length);
  const bytesPerSector = view.readUInt16LE(0x0b);
  const sectorsPerCluster = view.readUInt8(0x0d);
  const reservedSectors = view.readUInt16LE(0x0e);
  const fatCount = view.readUInt8(0x10);
  const rootSlots = view.readUInt16LE(0x11);
  const totalSectors = view.readUInt16LE(0x13) || view.readUInt32LE(0x20);
  const fatSectors16 = view.readUInt16LE(0x16);
  const problems = [
    view.readUInt16LE(0x1fe) !== 0xaa55 && 'no 55 AA signature',
    !(isPowerOfTwo(bytesPerSector) && bytesPerSector >= 512 && bytesPerSector <= 4096) && `${bytesPerSector} bytes per sector`,
    !isPowerOfTwo(sectorsPerCluster) && `${sectorsPerCluster} sectors per cluster`,
    reservedSectors === 0 && 'no reserved sectors',
    fatCount === 0 && 'no FAT',
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`not a FAT boot sector: ${problems.join(', ')}`);

  // fatgen103 tells FAT32 by its 16-bit FAT size being zero, as Linux and dosfstools do.
  const isFat32 = fatSectors16 === 0;
  const fatSectors = isFat32 ? view.readUInt32LE(0x24) : fatSectors16;
  const rootSectors = Math.ceil((rootSlots * 32) / bytesPerSector);
  const dataSector = reservedSectors + fatCount * fatSectors + rootSectors;
  if (fatSectors === 0 || dataSector >= totalSectors) throw new Error('not a FAT boot sector: no room for data clusters');
  const dataClusters = Math.floor((totalSectors - dataSector) / sectorsPerCluster);
  const fatType: FatType = isFat32 ? 32 : dataClusters < FAT12_CLUSTER_LIMIT ? 12 : 16;
  const fatBytes = fatSectors * bytesPerSector;
  const fatEntries = Math.floor((fatBytes * 8) / fatType);
  const allOffsets = Array.from({ length: fatCount }, (_, index) => (reservedSectors + index * fatSectors) * bytesPerSector);
  // FAT32 extended flags: bit 7 set means only the FAT numbered in bits 0–3 is in use.
  const extendedFlags = isFat32 ? view.readUInt16LE(0x28) : 0;
  const fatOffsets = extendedFlags & 0x80 ? [allOffsets[extendedFlags & 0x0f] ?? allOffsets[0]!] : allOffsets;
  const fsInfoSector = isFat32 ? view.readUInt16LE(0x30) : 0;
  return {
    fatType,
    bytesPerSector,
    clusterBytes: sectorsPerCluster * bytesPerSector,
    fatOffsets,
    fatBytes,
    fixedRoot: isFat32 ? null : { offset: (reservedSectors + fatCount * fatSectors) * bytesPerSector, slots: rootSlots },
    rootCluster: isFat32 ? view.readUInt32LE(0x2c) : 0,
    dataOffset: dataSector * bytesPerSector,
    // A FAT too short for every data cluster leaves the rest unusable.
    clusterCount: Math.min(dataClusters, fatEntries - 2),
    fsInfoOffset: isFat32 && fsInfoSector !== 0 && fsInfoSector !== 0xffff ? fsInfoSector * bytesPerSector : null,
  };
}

/** Byte offset of data cluster `cluster` (2 or more); pure. */
export function clusterOffset(geometry: Pick<FatGeometry, 'dataOffset' | 'clusterBytes'>, cluster: number): number {
  return geometry.dataOffset + (cluster - 2) * geometry.clusterBytes;
}
