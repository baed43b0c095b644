/**
 * VirtualBox VDI (version 1.1, dynamic), laid out as `qemu-img convert -O vdi` lays it
 * out: the header, the block map from byte 512 (padded to a sector), then the 1 MiB
 * blocks that hold any data, in guest order; blocks without data stay unallocated in the
 * map. Fields and offsets: qemu's block/vdi.c. For a deterministic build the image and
 * snapshot UUIDs come from format-identity.ts, so the file equals what qemu-img made
 * and nixdisk pinned before.
 */
import { randomBytes } from 'node:crypto';
import { pinVdiHeader } from '../format-identity.js';
import { allocatedUnitRuns, blockMap, type ContainerLayout, type ImageIdentity } from './container.js';
import type { ByteRange } from './host-map.js';

export const VDI_BLOCK_BYTES = 1 << 20;
const SECTOR = 512;
const HEADER_TEXT = '<<< QEMU VM Virtual Disk Image >>>\n';
const SIGNATURE = 0xbeda107f;
const VERSION_1_1 = 0x00010001;
/** The version 1.1 header after the 72-byte pre-header (text, signature, version). */
const HEADER_SIZE = 0x180;
const IMAGE_TYPE_DYNAMIC = 1;
const BLOCK_MAP_OFFSET = SECTOR;
const UNALLOCATED = 0xffffffff;

export function layOutVdi(diskBytes: number, allocated: Iterable<ByteRange>, identity: ImageIdentity): ContainerLayout {
  if (!Number.isSafeInteger(diskBytes) || diskBytes <= 0) throw new Error(`vdi: disk size ${diskBytes} is not a positive safe integer`);
  const blocks = Math.ceil(diskBytes / VDI_BLOCK_BYTES);
  const runs = allocatedUnitRuns('vdi', VDI_BLOCK_BYTES, diskBytes, allocated);
  const dataOffset = BLOCK_MAP_OFFSET + Math.ceil((blocks * 4) / SECTOR) * SECTOR;

  const header = Buffer.alloc(SECTOR);
  header.write(HEADER_TEXT, 0, 'latin1');
  header.writeUInt32LE(SIGNATURE, 0x40);
  header.writeUInt32LE(VERSION_1_1, 0x44);
  header.writeUInt32LE(HEADER_SIZE, 0x48);
  header.writeUInt32LE(IMAGE_TYPE_DYNAMIC, 0x4c);
  header.writeUInt32LE(BLOCK_MAP_OFFSET, 0x154);
  header.writeUInt32LE(dataOffset, 0x158);
  header.writeUInt32LE(SECTOR, 0x168);
  header.writeBigUInt64LE(BigInt(diskBytes), 0x170);
  header.writeUInt32LE(VDI_BLOCK_BYTES, 0x178);
  header.writeUInt32LE(blocks, 0x180);
  header.writeUInt32LE(runs.units, 0x184);
  // The image and last-snapshot UUIDs; link and parent stay zero.
  if (identity === null) randomBytes(32).copy(header, 0x188);

  const { map, hostOf } = blockMap(runs, VDI_BLOCK_BYTES, dataOffset, VDI_BLOCK_BYTES, 0);
  const blockMapBytes = Buffer.alloc(dataOffset - BLOCK_MAP_OFFSET);
  for (let block = 0; block < blocks; block++) {
    const host = hostOf.get(block);
    blockMapBytes.writeUInt32LE(host === undefined ? UNALLOCATED : (host - dataOffset) / VDI_BLOCK_BYTES, block * 4);
  }
  return {
    fileBytes: dataOffset + runs.units * VDI_BLOCK_BYTES,
    map,
    metadata: [
      { offset: 0, bytes: identity === null ? header : pinVdiHeader(header, identity.seed) },
      { offset: BLOCK_MAP_OFFSET, bytes: blockMapBytes },
    ],
  };
}
