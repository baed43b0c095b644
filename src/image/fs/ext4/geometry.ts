/**
 * The on-disk ext4 structures that mke2fs laid out and nixdisk updates: the superblock
 * and the group descriptor table, read from bytes and written back with their
 * metadata_csum checksums. Pure; offsets are those of the kernel's struct ext4_super_block
 * and struct ext4_group_desc.
 */
import { crc32c, crc32cOfU32 } from './crc32c.js';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
const MAGIC = 0xef53;
const SUPERBLOCK_CHECKSUM_AT = 0x3fc;

/** Features nixdisk knows how to populate; mke2fs is asked for nothing else. */
const INCOMPAT = { filetype: 0x2, extents: 0x40, is64bit: 0x80, flexBg: 0x200, csumSeed: 0x2000 } as const;
const RO_COMPAT = { sparseSuper: 0x1, largeFile: 0x2, hugeFile: 0x8, gdtCsum: 0x10, dirNlink: 0x20, extraIsize: 0x40, metadataCsum: 0x400 } as const;
const KNOWN_INCOMPAT = Object.values(INCOMPAT).reduce((a, b) => a | b, 0);
const KNOWN_RO_COMPAT = Object.values(RO_COMPAT).reduce((a, b) => a | b, 0);

export const GROUP_FLAG = { inodeUninit: 0x1, blockUninit: 0x2, itableZeroed: 0x4 } as const;

export interface Superblock {
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  firstDataBlock: number;
  blockSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  firstInode: number;
  inodeSize: number;
  descriptorSize: number;
  sparseSuper: boolean;
  /** The seed every metadata checksum but the superblock's starts from. */
  checksumSeed: number;
  groupCount: number;
}

export interface GroupDescriptor {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  flags: number;
  itableUnused: number;
  blockBitmapChecksum: number;
  inodeBitmapChecksum: number;
}

/** Reads the 1024 superblock bytes; refuses anything but the ext4 mke2fs made with nixdisk's flags. */
export function parseSuperblock(bytes: Buffer): Superblock {
  if (bytes.readUInt16LE(0x38) !== MAGIC) throw new Error('not an ext4 filesystem (no superblock magic)');
  const incompat = bytes.readUInt32LE(0x60);
  const roCompat = bytes.readUInt32LE(0x64);
  const unknownIncompat = incompat & ~KNOWN_INCOMPAT;
  const unknownRoCompat = roCompat & ~KNOWN_RO_COMPAT;
  if (unknownIncompat || unknownRoCompat) {
    throw new Error(`ext4 features nixdisk cannot populate: incompat 0x${unknownIncompat.toString(16)}, ro_compat 0x${unknownRoCompat.toString(16)}`);
  }
  for (const [name, bit] of [['extent', INCOMPAT.extents], ['64bit', INCOMPAT.is64bit], ['filetype', INCOMPAT.filetype]] as const) {
    if (!(incompat & bit)) throw new Error(`nixdisk populates ext4 with the ${name} feature only`);
  }
  if (!(roCompat & RO_COMPAT.metadataCsum)) throw new Error('nixdisk populates ext4 with metadata_csum only');
  const blocksCount = bytes.readUInt32LE(0x04) + bytes.readUInt32LE(0x150) * 2 ** 32;
  const firstDataBlock = bytes.readUInt32LE(0x14);
  const blocksPerGroup = bytes.readUInt32LE(0x20);
  const uuid = bytes.subarray(0x68, 0x78);
  return {
    inodesCount: bytes.readUInt32LE(0x00),
    blocksCount,
    freeBlocks: bytes.readUInt32LE(0x0c) + bytes.readUInt32LE(0x158) * 2 ** 32,
    freeInodes: bytes.readUInt32LE(0x10),
    firstDataBlock,
    blockSize: 1024 << bytes.readUInt32LE(0x18),
    blocksPerGroup,
    inodesPerGroup: bytes.readUInt32LE(0x28),
    firstInode: bytes.readUInt32LE(0x54),
    inodeSize: bytes.readUInt16LE(0x58),
    descriptorSize: bytes.readUInt16LE(0xfe),
    sparseSuper: (roCompat & RO_COMPAT.sparseSuper) !== 0,
    checksumSeed: incompat & INCOMPAT.csumSeed ? bytes.readUInt32LE(0x270) : crc32c(0xffffffff, uuid),
    groupCount: Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup),
  };
}

/** The superblock bytes with new free counts (and group number, for a backup copy) and a fresh checksum. */
export function updatedSuperblock(bytes: Buffer, change: { freeBlocks: number; freeInodes: number; groupNumber?: number }): Buffer {
  const out = Buffer.from(bytes);
  out.writeUInt32LE(change.freeBlocks % 2 ** 32, 0x0c);
  out.writeUInt32LE(Math.floor(change.freeBlocks / 2 ** 32), 0x158);
  out.writeUInt32LE(change.freeInodes, 0x10);
  if (change.groupNumber !== undefined) out.writeUInt16LE(change.groupNumber, 0x5a);
  out.writeUInt32LE(crc32c(0xffffffff, out.subarray(0, SUPERBLOCK_CHECKSUM_AT)), SUPERBLOCK_CHECKSUM_AT);
  return out;
}

function lohi(bytes: Buffer, lo: number, hi: number, loSize: 2 | 4): number {
  const low = loSize === 4 ? bytes.readUInt32LE(lo) : bytes.readUInt16LE(lo);
  const high = loSize === 4 ? bytes.readUInt32LE(hi) : bytes.readUInt16LE(hi);
  return low + high * (loSize === 4 ? 2 ** 32 : 2 ** 16);
}

export function parseGroupDescriptors(table: Buffer, superblock: Superblock): GroupDescriptor[] {
  const size = superblock.descriptorSize;
  const groups: GroupDescriptor[] = [];
  for (let group = 0; group < superblock.groupCount; group++) {
    const d = table.subarray(group * size, (group + 1) * size);
    groups.push({
      blockBitmap: lohi(d, 0x00, 0x20, 4),
      inodeBitmap: lohi(d, 0x04, 0x24, 4),
      inodeTable: lohi(d, 0x08, 0x28, 4),
      freeBlocks: lohi(d, 0x0c, 0x2c, 2),
      freeInodes: lohi(d, 0x0e, 0x2e, 2),
      usedDirs: lohi(d, 0x10, 0x30, 2),
      flags: d.readUInt16LE(0x12),
      itableUnused: lohi(d, 0x1c, 0x32, 2),
      blockBitmapChecksum: lohi(d, 0x18, 0x38, 2),
      inodeBitmapChecksum: lohi(d, 0x1a, 0x3a, 2),
    });
  }
  return groups;
}

/** The descriptor table with each group's changing fields rewritten and its checksum recomputed. */
export function updatedGroupDescriptors(table: Buffer, superblock: Superblock, groups: readonly GroupDescriptor[]): Buffer {
  const size = superblock.descriptorSize;
  const out = Buffer.from(table);
  const split = (value: number, lo: number, hi: number, d: Buffer) => {
    d.writeUInt16LE(value & 0xffff, lo);
    d.writeUInt16LE(Math.floor(value / 2 ** 16) & 0xffff, hi);
  };
  groups.forEach((group, index) => {
    const d = out.subarray(index * size, (index + 1) * size);
    split(group.freeBlocks, 0x0c, 0x2c, d);
    split(group.freeInodes, 0x0e, 0x2e, d);
    split(group.usedDirs, 0x10, 0x30, d);
    d.writeUInt16LE(group.flags, 0x12);
    split(group.itableUnused, 0x1c, 0x32, d);
    split(group.blockBitmapChecksum >>> 0, 0x18, 0x38, d);
    split(group.inodeBitmapChecksum >>> 0, 0x1a, 0x3a, d);
    d.writeUInt16LE(groupDescriptorChecksum(d, index, superblock.checksumSeed), 0x1e);
  });
  return out;
}

/** metadata_csum's descriptor checksum: the low 16 bits of crc32c over group number and descriptor, checksum field as zero. */
export function groupDescriptorChecksum(descriptor: Buffer, group: number, seed: number): number {
  let crc = crc32cOfU32(seed, group);
  crc = crc32c(crc, descriptor.subarray(0, 0x1e));
  crc = crc32c(crc, Buffer.alloc(2));
  crc = crc32c(crc, descriptor.subarray(0x20));
  return crc & 0xffff;
}

/** Groups holding a backup superblock and descriptor table with sparse_super: 0, 1 and powers of 3, 5 and 7. */
export function hasSuperblockBackup(group: number, sparseSuper: boolean): boolean {
  if (!sparseSuper || group <= 1) return true;
  for (const base of [3, 5, 7]) {
    let power = base;
    while (power < group) power *= base;
    if (power === group) return true;
  }
  return false;
}
