/**
 * qemu-img gives VDI and VHD images fresh random identities on every run (VDI's image
 * and snapshot UUIDs; VHD's footer timestamp and UUID). For reproducible images nixdisk
 * overwrites them with values derived from the build's own inputs. Pure byte edits.
 */
import { createHash } from 'node:crypto';

/** A version-4-shaped UUID (16 bytes) derived from `seed`, stable across machines. */
export function derivedUuidBytes(seed: string): Buffer {
  const bytes = createHash('sha256').update(seed).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return Buffer.from(bytes);
}

/** VDI header (VirtualBox 1.1): image UUID at 0x188, last-snapshot UUID at 0x198; link and parent UUIDs stay zero. */
export const VDI_UUID_IMAGE_OFFSET = 0x188;
export const VDI_UUID_LAST_SNAP_OFFSET = 0x198;

export function pinVdiHeader(header: Buffer, seed: string): Buffer {
  const pinned = Buffer.from(header);
  derivedUuidBytes(`${seed}:vdi-image`).copy(pinned, VDI_UUID_IMAGE_OFFSET);
  derivedUuidBytes(`${seed}:vdi-snapshot`).copy(pinned, VDI_UUID_LAST_SNAP_OFFSET);
  return pinned;
}

/** VHD footer fields (Microsoft VHD spec): big-endian timestamp at 24, checksum at 64, UUID at 68. */
export const VHD_FOOTER_SIZE = 512;
const VHD_TIMESTAMP_OFFSET = 24;
const VHD_CHECKSUM_OFFSET = 64;
const VHD_UUID_OFFSET = 68;
/** VHD timestamps count seconds from 2000-01-01T00:00:00Z. */
export const VHD_EPOCH = 946684800;

export function vhdChecksum(footer: Buffer): number {
  let sum = 0;
  for (let i = 0; i < VHD_FOOTER_SIZE; i++) {
    if (i >= VHD_CHECKSUM_OFFSET && i < VHD_CHECKSUM_OFFSET + 4) continue;
    sum = (sum + footer[i]!) >>> 0;
  }
  return ~sum >>> 0;
}

export function pinVhdFooter(footer: Buffer, seed: string, unixTime: number): Buffer {
  if (footer.length !== VHD_FOOTER_SIZE || footer.toString('latin1', 0, 8) !== 'conectix') {
    throw new Error('not a VHD footer (no "conectix" cookie)');
  }
  const pinned = Buffer.from(footer);
  pinned.writeUInt32BE(Math.max(0, unixTime - VHD_EPOCH), VHD_TIMESTAMP_OFFSET);
  derivedUuidBytes(`${seed}:vhd`).copy(pinned, VHD_UUID_OFFSET);
  pinned.writeUInt32BE(vhdChecksum(pinned), VHD_CHECKSUM_OFFSET);
  return pinned;
}
