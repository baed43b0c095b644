/** Long-name entries against the bytes mtools 4.0.32 wrote for the same names (mcopy into a mkfs.vfat image). */
import { describe, expect, it } from 'vitest';
import { longNameEntries, longNameEntryCount, shortNameChecksum } from '../../../../src/image/fs/fat/long-name.js';

const hex = (text: string) => text.replace(/\s+/g, '');

describe('shortNameChecksum', () => {
  it.each([
    ['ABC-LI~1EFI', 0xd1],
    ['LOADER~1CON', 0xb6],
    ['NIXOS-~1CON', 0x76],
  ])('%s', (shortName, checksum) => {
    expect(shortNameChecksum(shortName)).toBe(checksum);
  });
});

describe('longNameEntries', () => {
  it.each([
    [
      'a name that ends inside its last entry: 0 after it, then FFFF',
      'loader.conf',
      0xb6,
      '41 6c 00 6f 00 61 00 64 00 65 00 0f 00 b6 72 00 2e 00 63 00 6f 00 6e 00 66 00 00 00 00 00 ff ff',
    ],
    [
      'two entries, the last part first and marked 0x40',
      'nixos-generation-1.conf',
      0x76,
      `42 69 00 6f 00 6e 00 2d 00 31 00 0f 00 76 2e 00 63 00 6f 00 6e 00 66 00 00 00 00 00 ff ff ff ff
       01 6e 00 69 00 78 00 6f 00 73 00 0f 00 76 2d 00 67 00 65 00 6e 00 65 00 72 00 00 00 61 00 74 00`,
    ],
    [
      'a name whose 0 is the last unit of its entry',
      'abc-linux-6.1-bzImage.efi',
      0xd1,
      `42 2d 00 62 00 7a 00 49 00 6d 00 0f 00 d1 61 00 67 00 65 00 2e 00 65 00 66 00 00 00 69 00 00 00
       01 61 00 62 00 63 00 2d 00 6c 00 0f 00 d1 69 00 6e 00 75 00 78 00 2d 00 36 00 00 00 2e 00 31 00`,
    ],
    [
      'exactly 13 units: no 0 at all',
      'abcdefghijklm',
      0x12,
      '41 61 00 62 00 63 00 64 00 65 00 0f 00 12 66 00 67 00 68 00 69 00 6a 00 6b 00 00 00 6c 00 6d 00',
    ],
    [
      'a character outside the BMP is two UTF-16 units',
      'a😀',
      0x34,
      '41 61 00 3d d8 00 de 00 00 ff ff 0f 00 34 ff ff ff ff ff ff ff ff ff ff ff ff 00 00 ff ff ff ff',
    ],
  ])('%s', (_name, name, checksum, bytes) => {
    expect(longNameEntries(name, checksum).toString('hex')).toBe(hex(bytes));
    expect(longNameEntryCount(name) * 32).toBe(hex(bytes).length / 2);
  });

  it.each(['', 'x'.repeat(256)])('refuses a name of %s.length units', (name) => {
    expect(() => longNameEntries(name, 0)).toThrow(/a long name has 1 to 255 UTF-16 units/);
  });

  it('takes 20 entries for the longest name', () => {
    expect(longNameEntries('x'.repeat(255), 0).length).toBe(20 * 32);
  });
});
