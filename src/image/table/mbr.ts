/**
 * Sector 0 of an image: the msdos table parted writes for the legacy layouts, or the
 * protective MBR in front of a GPT (FACTS §3.2, §3.3).
 *
 * Bytes 0..439 (boot code) stay zero. parted puts a 75-byte boot stub of its own there on
 * msdos tables; its bytes are only in parted's source, which nixdisk does not copy. GRUB
 * replaces that region with boot.img whenever a BIOS bootloader is installed.
 */
import type { PartitionPlan, TablePlan } from './partition-table.js';
import { LayoutError } from './layouts.js';

export const MBR_SIZE = 512;
const SIGNATURE_OFFSET = 0x1b8;
const ENTRIES_OFFSET = 0x1be;
const ENTRY_SIZE = 16;
const MAX_ENTRIES = 4;
const PROTECTIVE_TYPE = 0xee;
const ACTIVE = 0x80;
const MAX_LBA_FIELD = 0xffffffff;

/** The geometry parted assumes for an image file, which has none of its own. */
const HEADS = 4;
const SECTORS_PER_TRACK = 32;
const MAX_CYLINDER = 1023;

/**
 * The three CHS bytes (head, sector | cylinder bits 8-9 in bits 6-7, cylinder bits 0-7)
 * for an LBA; an LBA past the last addressable cylinder is written as the last CHS
 * address there is, as parted does.
 */
export function chsBytes(lba: number): [number, number, number] {
  const cylinder = Math.floor(lba / (HEADS * SECTORS_PER_TRACK));
  const [c, h, s] =
    cylinder > MAX_CYLINDER
      ? [MAX_CYLINDER, HEADS - 1, SECTORS_PER_TRACK]
      : [cylinder, Math.floor(lba / SECTORS_PER_TRACK) % HEADS, (lba % SECTORS_PER_TRACK) + 1];
  return [h, s | ((c >> 2) & 0xc0), c & 0xff];
}

function writeEntry(sector: Buffer, slot: number, fields: { status: number; chsStart: number[]; type: number; chsEnd: number[]; lba: number; sectors: number }): void {
  const at = ENTRIES_OFFSET + slot * ENTRY_SIZE;
  sector[at] = fields.status;
  sector.set(fields.chsStart, at + 1);
  sector[at + 4] = fields.type;
  sector.set(fields.chsEnd, at + 5);
  sector.writeUInt32LE(fields.lba, at + 8);
  sector.writeUInt32LE(fields.sectors, at + 12);
}

function finish(sector: Buffer): Buffer {
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** The msdos sector for an 'mbr' table, or the protective MBR for a 'gpt' one. */
export function mbrBytes(table: TablePlan, totalSectors: number): Buffer {
  const sector = Buffer.alloc(MBR_SIZE);
  if (table.kind === 'gpt') {
    // Per the UEFI spec the protective entry covers the whole disk after LBA 0, capped at
    // what 32 bits hold; its CHS fields are fixed, and the disk signature stays 0.
    writeEntry(sector, 0, {
      status: 0,
      chsStart: [0x00, 0x02, 0x00],
      type: PROTECTIVE_TYPE,
      chsEnd: [0xff, 0xff, 0xff],
      lba: 1,
      sectors: Math.min(totalSectors - 1, MAX_LBA_FIELD),
    });
    return finish(sector);
  }
  if (table.kind !== 'mbr') throw new LayoutError(`a '${table.kind}' table has no MBR`);
  if (table.partitions.length > MAX_ENTRIES) {
    throw new LayoutError(`an msdos table holds ${MAX_ENTRIES} primary partitions, the plan has ${table.partitions.length}`);
  }
  sector.writeUInt32LE(table.mbrSignature ?? 0, SIGNATURE_OFFSET);
  for (const partition of table.partitions) writePartition(sector, partition, totalSectors);
  return finish(sector);
}

function writePartition(sector: Buffer, partition: PartitionPlan, totalSectors: number): void {
  const sectors = partition.lastSector - partition.firstSector + 1;
  if (partition.number < 1 || partition.number > MAX_ENTRIES) {
    throw new LayoutError(`msdos partition number ${partition.number} is not 1..${MAX_ENTRIES}`);
  }
  if (partition.mbrType === undefined) throw new LayoutError(`msdos partition ${partition.number} has no type byte`);
  if (partition.lastSector >= totalSectors || partition.firstSector > MAX_LBA_FIELD || sectors > MAX_LBA_FIELD) {
    throw new LayoutError(`msdos partition ${partition.number} (sectors ${partition.firstSector}..${partition.lastSector}) does not fit the table or the ${totalSectors}-sector disk`);
  }
  writeEntry(sector, partition.number - 1, {
    status: partition.bootable ? ACTIVE : 0,
    chsStart: chsBytes(partition.firstSector),
    type: partition.mbrType,
    chsEnd: chsBytes(partition.lastSector),
    lba: partition.firstSector,
    sectors,
  });
}
