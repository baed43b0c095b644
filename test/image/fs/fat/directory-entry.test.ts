/** Directory entries against the bytes mtools 4.0.32 wrote (SOURCE_DATE_EPOCH=315532800, TZ=UTC), and by the spec where mtools has no case. */
import { describe, expect, it } from 'vitest';
import { directoryBytes, directorySlots, shortEntryBytes, type DirectoryRecord, type ShortEntry } from '../../../../src/image/fs/fat/directory-entry.js';
import { FAT_EPOCH } from '../../../../src/image/fs/fat/date-time.js';

const hex = (text: string) => text.replace(/\s+/g, '');

describe('shortEntryBytes', () => {
  it.each<[string, ShortEntry, string]>([
    [
      'a file: archive bit, cluster, size, every date 1980-01-01 (mtools)',
      { name: 'README  TXT', directory: false, cluster: 6, size: 2, time: FAT_EPOCH },
      '52 45 41 44 4d 45 20 20 54 58 54 20 00 00 00 00 21 00 21 00 00 00 00 00 21 00 06 00 02 00 00 00',
    ],
    [
      'a directory: size 0 (mtools)',
      { name: 'EFI        ', directory: true, cluster: 2, size: 0, time: FAT_EPOCH },
      '45 46 49 20 20 20 20 20 20 20 20 10 00 00 00 00 21 00 21 00 00 00 00 00 21 00 02 00 00 00 00 00',
    ],
    [
      'an empty file: no cluster',
      { name: 'EMPTY      ', directory: false, cluster: 0, size: 0, time: FAT_EPOCH },
      '45 4d 50 54 59 20 20 20 20 20 20 20 00 00 00 00 21 00 21 00 00 00 00 00 21 00 00 00 00 00 00 00',
    ],
    [
      'FAT32: the cluster high word, a large size, a real time (2024-05-06 07:08:09)',
      { name: 'BZIMAGE EFI', directory: false, cluster: 0x12345, size: 0xfedcba98, time: Date.parse('2024-05-06T07:08:09Z') / 1000 },
      '42 5a 49 4d 41 47 45 20 45 46 49 20 00 00 04 39 a6 58 a6 58 01 00 04 39 a6 58 45 23 98 ba dc fe',
    ],
  ])('%s', (_name, entry, bytes) => {
    expect(shortEntryBytes(entry).toString('hex')).toBe(hex(bytes));
  });
});

const record = (longName: string, name: string, needsLongName: boolean, cluster: number): DirectoryRecord => ({
  longName,
  name,
  needsLongName,
  directory: false,
  cluster,
  size: 1,
  time: FAT_EPOCH,
});

describe('directoryBytes', () => {
  it('writes `.` and `..` first, then each long name before its short entry (mtools wrote these for EFI/nixos)', () => {
    const bytes = directoryBytes([record('abc-linux-6.1-bzImage.efi', 'ABC-LI~1EFI', true, 7)], { self: 3, parent: 2, time: FAT_EPOCH });
    expect(bytes.toString('hex')).toBe(
      hex(`2e 20 20 20 20 20 20 20 20 20 20 10 00 00 00 00 21 00 21 00 00 00 00 00 21 00 03 00 00 00 00 00
           2e 2e 20 20 20 20 20 20 20 20 20 10 00 00 00 00 21 00 21 00 00 00 00 00 21 00 02 00 00 00 00 00
           42 2d 00 62 00 7a 00 49 00 6d 00 0f 00 d1 61 00 67 00 65 00 2e 00 65 00 66 00 00 00 69 00 00 00
           01 61 00 62 00 63 00 2d 00 6c 00 0f 00 d1 69 00 6e 00 75 00 78 00 2d 00 36 00 00 00 2e 00 31 00
           41 42 43 2d 4c 49 7e 31 45 46 49 20 00 00 00 00 21 00 21 00 00 00 00 00 21 00 07 00 01 00 00 00`),
    );
  });

  it.each<[string, DirectoryRecord[], boolean, number]>([
    ['an empty subdirectory: `.` and `..`', [], true, 2],
    ['the root with an 8.3 name and a 25-unit long name', [record('EFI', 'EFI        ', false, 2), record('abc-linux-6.1-bzImage.efi', 'ABC-LI~1EFI', true, 7)], false, 4],
    ['a 255-unit long name', [record('x'.repeat(255), 'XXXXXX~1   ', true, 2)], true, 23],
  ])('%s takes %i slots, as many as it has bytes', (_name, records, dots, slots) => {
    expect(directorySlots(records, dots)).toBe(slots);
    expect(directoryBytes(records, dots ? { self: 5, parent: 0, time: FAT_EPOCH } : null).length).toBe(slots * 32);
  });
});
