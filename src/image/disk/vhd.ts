/**
 * VHD ("vpc"), dynamic, laid out as `qemu-img convert -O vpc -o force_size=on` lays it
 * out: a copy of the footer, the dynamic disk header, the block allocation table (padded
 * to a sector with unallocated entries), then each 2 MiB block that holds any data, in
 * guest order, behind its sector bitmap (all ones), and the footer at the end.
 * force_size keeps the disk's exact size (creator "qem2", the largest CHS geometry)
 * instead of rounding it to a CHS geometry, which would move the disk's end away from a
 * backup GPT. Fields: the VHD specification and qemu's block/vpc.c. For a deterministic
 * build the timestamp and UUID come from format-identity.ts.
 */
import { randomBytes } from 'node:crypto';
import { pinVhdFooter, VHD_EPOCH, vhdChecksum, VHD_FOOTER_SIZE } from '../format-identity.js';
import { allocatedUnitRuns, blockMap, type ContainerLayout, type ImageIdentity } from './container.js';
import type { ByteRange } from './host-map.js';

export const VHD_BLOCK_BYTES = 2 << 20;
const SECTOR = 512;
const DYNAMIC_HEADER_OFFSET = 512;
const DYNAMIC_HEADER_BYTES = 1024;
const TABLE_OFFSET = DYNAMIC_HEADER_OFFSET + DYNAMIC_HEADER_BYTES;
/** One bit per sector of a block, rounded to a sector. */
const BITMAP_BYTES = Math.ceil(VHD_BLOCK_BYTES / SECTOR / 8 / SECTOR) * SECTOR;
const UNALLOCATED = 0xffffffff;
const DISK_TYPE_DYNAMIC = 3;
const FORMAT_VERSION = 0x00010000;
/** What qemu 5.0 on writes as creator version, with "qem2" for force_size images. */
const CREATOR_VERSION = 0x00050003;

export function layOutVhd(diskBytes: number, allocated: Iterable<ByteRange>, identity: ImageIdentity): ContainerLayout {
  if (!Number.isSafeInteger(diskBytes) || diskBytes <= 0) throw new Error(`vpc: disk size ${diskBytes} is not a positive safe integer`);
  const entries = Math.ceil(diskBytes / VHD_BLOCK_BYTES);
  const runs = allocatedUnitRuns('vpc', VHD_BLOCK_BYTES, diskBytes, allocated);
  const tableBytes = Math.ceil((entries * 4) / SECTOR) * SECTOR;
  const firstBlock = TABLE_OFFSET + tableBytes;
  const { map, hostOf } = blockMap(runs, VHD_BLOCK_BYTES, firstBlock, BITMAP_BYTES + VHD_BLOCK_BYTES, BITMAP_BYTES);

  const table = Buffer.alloc(tableBytes, 0xff);
  for (let block = 0; block < entries; block++) {
    const host = hostOf.get(block);
    table.writeUInt32BE(host === undefined ? UNALLOCATED : host / SECTOR, block * 4);
  }
  const bitmap = Buffer.alloc(BITMAP_BYTES, 0xff);
  const bitmaps = [...hostOf.values()].map((host) => ({ offset: host, bytes: bitmap }));
  const footerOffset = firstBlock + runs.units * (BITMAP_BYTES + VHD_BLOCK_BYTES);
  const footerBytes = footer(diskBytes, identity);
  return {
    fileBytes: footerOffset + VHD_FOOTER_SIZE,
    map,
    metadata: [
      { offset: 0, bytes: footerBytes },
      { offset: DYNAMIC_HEADER_OFFSET, bytes: dynamicHeader(entries) },
      { offset: TABLE_OFFSET, bytes: table },
      ...bitmaps,
      { offset: footerOffset, bytes: footerBytes },
    ],
  };
}

function footer(diskBytes: number, identity: ImageIdentity): Buffer {
  const bytes = Buffer.alloc(VHD_FOOTER_SIZE);
  bytes.write('conectix', 0, 'latin1');
  bytes.writeUInt32BE(2, 8); // features: the reserved bit that must be set
  bytes.writeUInt32BE(FORMAT_VERSION, 12);
  bytes.writeBigUInt64BE(BigInt(DYNAMIC_HEADER_OFFSET), 16);
  bytes.write('qem2', 28, 'latin1');
  bytes.writeUInt32BE(CREATOR_VERSION, 32);
  bytes.write('Wi2k', 36, 'latin1');
  bytes.writeBigUInt64BE(BigInt(diskBytes), 40); // original size
  bytes.writeBigUInt64BE(BigInt(diskBytes), 48); // current size
  bytes.writeUInt16BE(0xffff, 56); // cylinders, heads, sectors per track: the largest geometry
  bytes.writeUInt8(16, 58);
  bytes.writeUInt8(255, 59);
  bytes.writeUInt32BE(DISK_TYPE_DYNAMIC, 60);
  if (identity !== null) return pinVhdFooter(bytes, identity.seed, identity.unixTime);
  bytes.writeUInt32BE(Math.max(0, Math.floor(Date.now() / 1000) - VHD_EPOCH), 24);
  randomBytes(16).copy(bytes, 68);
  bytes.writeUInt32BE(vhdChecksum(bytes), 64);
  return bytes;
}

function dynamicHeader(entries: number): Buffer {
  const bytes = Buffer.alloc(DYNAMIC_HEADER_BYTES);
  bytes.write('cxsparse', 0, 'latin1');
  bytes.writeBigUInt64BE(0xffffffffffffffffn, 8); // data offset: unused
  bytes.writeBigUInt64BE(BigInt(TABLE_OFFSET), 16);
  bytes.writeUInt32BE(FORMAT_VERSION, 24);
  bytes.writeUInt32BE(entries, 28);
  bytes.writeUInt32BE(VHD_BLOCK_BYTES, 32);
  let sum = 0;
  for (const byte of bytes) sum = (sum + byte) >>> 0;
  bytes.writeUInt32BE(~sum >>> 0, 36);
  return bytes;
}
