/**
 * The bytes of a FAT directory: 32-byte short entries (fatgen103 "FAT Directory
 * Structure"), each after its long-name entries, with `.` and `..` first in every
 * directory but the root.
 */
import { fatDateTime } from './date-time.js';
import { longNameEntries, longNameEntryCount, shortNameChecksum } from './long-name.js';

export const DIRECTORY_ENTRY_BYTES = 32;
const ATTRIBUTE_DIRECTORY = 0x10;
/** Set on every file written, as mtools and Linux set it (backup tools clear it). */
const ATTRIBUTE_ARCHIVE = 0x20;

export interface ShortEntry {
  /** 11 characters: base padded to 8, extension padded to 3. */
  name: string;
  directory: boolean;
  /** First cluster; 0 for an empty file (and for `..` pointing at the root). */
  cluster: number;
  size: number;
  /** Seconds since the Unix epoch: creation, last access and last write alike. */
  time: number;
}

/** One 32-byte short entry; pure. */
export function shortEntryBytes(entry: ShortEntry): Buffer {
  const bytes = Buffer.alloc(DIRECTORY_ENTRY_BYTES);
  bytes.write(entry.name, 0, 11, 'latin1');
  bytes[11] = entry.directory ? ATTRIBUTE_DIRECTORY : ATTRIBUTE_ARCHIVE;
  const { date, time } = fatDateTime(entry.time);
  bytes.writeUInt16LE(time, 14);
  bytes.writeUInt16LE(date, 16);
  bytes.writeUInt16LE(date, 18);
  bytes.writeUInt16LE(entry.cluster >>> 16, 20);
  bytes.writeUInt16LE(time, 22);
  bytes.writeUInt16LE(date, 24);
  bytes.writeUInt16LE(entry.cluster & 0xffff, 26);
  bytes.writeUInt32LE(entry.directory ? 0 : entry.size, 28);
  return bytes;
}

export interface DirectoryRecord extends ShortEntry {
  /** The entry's own name, stored as long-name entries when `needsLongName`. */
  longName: string;
  needsLongName: boolean;
}

/** A subdirectory's own cluster and its parent's (0 for the root), for `.` and `..`. */
export interface DotEntries {
  self: number;
  parent: number;
  time: number;
}

/** The 32-byte slots a directory of `records` takes, with `.` and `..` when it is not the root. */
export function directorySlots(records: readonly Pick<DirectoryRecord, 'longName' | 'needsLongName'>[], hasDotEntries: boolean): number {
  let slots = hasDotEntries ? 2 : 0;
  for (const record of records) slots += 1 + (record.needsLongName ? longNameEntryCount(record.longName) : 0);
  return slots;
}

/** The entries of a directory, `.` and `..` first when `dots` is given, then `records` in order; pure. */
export function directoryBytes(records: readonly DirectoryRecord[], dots: DotEntries | null): Buffer {
  const parts: Buffer[] = [];
  if (dots) {
    parts.push(shortEntryBytes({ name: '.'.padEnd(11), directory: true, cluster: dots.self, size: 0, time: dots.time }));
    parts.push(shortEntryBytes({ name: '..'.padEnd(11), directory: true, cluster: dots.parent, size: 0, time: dots.time }));
  }
  for (const record of records) {
    if (record.needsLongName) parts.push(longNameEntries(record.longName, shortNameChecksum(record.name)));
    parts.push(shortEntryBytes(record));
  }
  return Buffer.concat(parts);
}
