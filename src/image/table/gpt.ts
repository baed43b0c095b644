/**
 * The GUID partition table as parted writes it and sgdisk rewrites it (FACTS §3.2): the
 * protective MBR, the primary header at LBA 1 with its 128-entry array at LBAs 2..33,
 * and the backup array at N-33 with the backup header at N-1.
 */
import { crc32 } from 'node:zlib';
import type { PartitionPlan, TablePlan } from './partition-table.js';
import { guidToBytes } from './guid.js';
import { GPT_HEAD_SECTORS, GPT_TAIL_SECTORS, LayoutError } from './layouts.js';
import { mbrBytes } from './mbr.js';
import { SECTOR } from '../../units.js';

const ENTRY_COUNT = 128;
const ENTRY_SIZE = 128;
const ENTRIES_BYTES = ENTRY_COUNT * ENTRY_SIZE;
const HEADER_SIZE = 92;
const REVISION_1_0 = 0x00010000;
const NAME_OFFSET = 56;
const NAME_UNITS = 36;

export interface GptBytes {
  /** LBAs 0..33: protective MBR, primary header, primary entries. */
  primary: Buffer;
  /** LBAs N-33..N-1: backup entries, then the backup header. */
  backup: Buffer;
}

function entryArray(partitions: PartitionPlan[]): Buffer {
  const entries = Buffer.alloc(ENTRIES_BYTES);
  for (const partition of partitions) {
    if (partition.number < 1 || partition.number > ENTRY_COUNT) {
      throw new LayoutError(`GPT partition number ${partition.number} is not 1..${ENTRY_COUNT}`);
    }
    if (partition.typeGuid === undefined || partition.uniqueGuid === undefined) {
      throw new LayoutError(`GPT partition ${partition.number} needs a type GUID and a unique GUID`);
    }
    const name = Buffer.from(partition.name, 'utf16le');
    if (name.length > NAME_UNITS * 2) {
      throw new LayoutError(`GPT partition name "${partition.name}" is longer than ${NAME_UNITS} UTF-16 units`);
    }
    // Slots follow partition numbers, not disk order: hybrid's first partition on disk is #2.
    const at = (partition.number - 1) * ENTRY_SIZE;
    guidToBytes(partition.typeGuid).copy(entries, at);
    guidToBytes(partition.uniqueGuid).copy(entries, at + 16);
    entries.writeBigUInt64LE(BigInt(partition.firstSector), at + 32);
    entries.writeBigUInt64LE(BigInt(partition.lastSector), at + 40);
    // Attributes (at + 48) stay 0: parted's flags only choose the type GUID.
    name.copy(entries, at + NAME_OFFSET);
  }
  return entries;
}

function header(fields: { myLba: number; alternateLba: number; totalSectors: number; diskGuid: string; entriesLba: number; entriesCrc: number }): Buffer {
  const sector = Buffer.alloc(SECTOR);
  sector.write('EFI PART', 0, 'latin1');
  sector.writeUInt32LE(REVISION_1_0, 8);
  sector.writeUInt32LE(HEADER_SIZE, 12);
  sector.writeBigUInt64LE(BigInt(fields.myLba), 24);
  sector.writeBigUInt64LE(BigInt(fields.alternateLba), 32);
  sector.writeBigUInt64LE(BigInt(GPT_HEAD_SECTORS), 40);
  sector.writeBigUInt64LE(BigInt(fields.totalSectors - GPT_TAIL_SECTORS - 1), 48);
  guidToBytes(fields.diskGuid).copy(sector, 56);
  sector.writeBigUInt64LE(BigInt(fields.entriesLba), 72);
  sector.writeUInt32LE(ENTRY_COUNT, 80);
  sector.writeUInt32LE(ENTRY_SIZE, 84);
  sector.writeUInt32LE(fields.entriesCrc, 88);
  // The header CRC covers the 92 header bytes with the CRC field itself zero.
  sector.writeUInt32LE(crc32(sector.subarray(0, HEADER_SIZE)), 16);
  return sector;
}

export function gptBytes(table: TablePlan, totalSectors: number): GptBytes {
  if (table.kind !== 'gpt') throw new LayoutError(`a '${table.kind}' table is not a GPT`);
  if (table.diskGuid === undefined) throw new LayoutError('a GPT needs a disk GUID');
  if (totalSectors < GPT_HEAD_SECTORS + GPT_TAIL_SECTORS + 1) {
    throw new LayoutError(`a GPT needs more than ${GPT_HEAD_SECTORS + GPT_TAIL_SECTORS} sectors, the disk has ${totalSectors}`);
  }
  const entries = entryArray(table.partitions);
  const entriesCrc = crc32(entries);
  const backupHeaderLba = totalSectors - 1;
  const backupEntriesLba = totalSectors - GPT_TAIL_SECTORS;
  const common = { totalSectors, diskGuid: table.diskGuid, entriesCrc };
  const primary = Buffer.concat([
    mbrBytes(table, totalSectors),
    header({ ...common, myLba: 1, alternateLba: backupHeaderLba, entriesLba: 2 }),
    entries,
  ]);
  const backup = Buffer.concat([
    entries,
    header({ ...common, myLba: backupHeaderLba, alternateLba: 1, entriesLba: backupEntriesLba }),
  ]);
  return { primary, backup };
}
