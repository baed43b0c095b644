import { describe, expect, it } from 'vitest';
import { shortNames } from '../../../../src/image/fs/fat/short-name.js';

/** [names of one directory, their short names as "NAME    EXT" + "*" when they need a long name]. */
const DIRECTORIES: [string, string[], string[]][] = [
  ['upper-case 8.3 names are their own short names', ['EFI', 'BOOTX64.EFI', 'A-B_C~1.$$$'], ['EFI        ', 'BOOTX64 EFI', 'A-B_C~1 $$$']],
  ['names that differ from 8.3 only in case keep it, with a long name', ['loader', 'README.txt', 'Vmlinuz'], ['LOADER     *', 'README  TXT*', 'VMLINUZ    *']],
  ['a cut extension or base takes a tail', ['loader.conf', 'nixos-generation-1.conf', 'systemd-bootx64.efi'], ['LOADER~1CON*', 'NIXOS-~1CON*', 'SYSTEM~1EFI*']],
  ['names alike before the cut take rising tails', ['nixos-generation-1.conf', 'nixos-generation-2.conf', 'nixos-generation-3.conf'], ['NIXOS-~1CON*', 'NIXOS-~2CON*', 'NIXOS-~3CON*']],
  ['leading periods, inner periods and spaces are dropped', ['.hidden', 'a.b.c', 'my file'], ['HIDDEN~1   *', 'AB~1    C  *', 'MYFILE~1   *']],
  ['characters 8.3 cannot hold become _', ['a+b,c;d=e[f].TXT', 'ünïcødé 名前.txt'], ['A_B_C_~1TXT*', '_N_C_D~1TXT*']],
  ['a name of only periods and spaces still gets a base', ['. .x'], ['_~1     X  *']],
  [
    'a short name some entry has as its own is never given to another, whatever the order',
    ['foo bar.txt', 'FOOBAR~1.TXT', 'foobar~2.txt'],
    ['FOOBAR~3TXT*', 'FOOBAR~1TXT', 'FOOBAR~2TXT*'],
  ],
  ['the same short name twice: the later one takes a tail', ['ABC', 'abc'], ['ABC        ', 'ABC~1      *']],
];

describe('shortNames', () => {
  it.each(DIRECTORIES)('%s', (_name, names, expected) => {
    expect(shortNames(names).map(({ name, needsLongName }) => name + (needsLongName ? '*' : ''))).toEqual(expected);
  });

  it('cuts the base further as tails get longer digits', () => {
    const names = Array.from({ length: 120 }, (_, index) => `a long file name ${index}.txt`);
    const result = shortNames(names).map(({ name }) => name);
    expect([result[0], result[8], result[9], result[98], result[99]]).toEqual(['ALONGF~1TXT', 'ALONGF~9TXT', 'ALONG~10TXT', 'ALONG~99TXT', 'ALON~100TXT']);
    expect(new Set(result).size).toBe(names.length);
  });

  it('gives 3000 names alike 3000 different short names', () => {
    const names = Array.from({ length: 3000 }, (_, index) => `generation-${index}-link`);
    expect(new Set(shortNames(names).map(({ name }) => name)).size).toBe(3000);
  });
});
