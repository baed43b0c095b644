import { describe, expect, it } from 'vitest';
import { baseName, clustersFor, layOutRuns, parentPath, planDirectories } from '../../../../src/image/fs/fat/layout.js';
import type { TreeEntry } from '../../../../src/image/fs/tree.js';

describe('layOutRuns', () => {
  it.each<[string, number[], number, number[], number]>([
    ['runs one after the other from the first free cluster', [1, 3, 2], 3, [3, 4, 7], 9],
    ['an empty file takes no cluster and cluster number 0', [2, 0, 1], 2, [2, 0, 4], 5],
    ['nothing to lay out', [], 7, [], 7],
  ])('%s', (_name, lengths, first, starts, next) => {
    expect(layOutRuns(lengths, first)).toEqual({ starts, next });
  });
});

describe('clustersFor', () => {
  it.each([
    [0, 0],
    [1, 1],
    [2048, 1],
    [2049, 2],
    [30_000_000, 14649],
  ])('%i bytes in 2 KiB clusters: %i', (bytes, clusters) => {
    expect(clustersFor(bytes, 2048)).toBe(clusters);
  });
});

describe('baseName and parentPath', () => {
  it.each([
    ['EFI', 'EFI', ''],
    ['EFI/BOOT/BOOTX64.EFI', 'BOOTX64.EFI', 'EFI/BOOT'],
    ['loader/entries', 'entries', 'loader'],
  ])('%s', (path, base, parent) => {
    expect([baseName(path), parentPath(path)]).toEqual([base, parent]);
  });
});

const entry = (path: string, kind: 'file' | 'directory' = 'file'): TreeEntry =>
  ({ path, kind, size: 0, mode: 0o644, format: 0, rdev: 0, times: { atime: 0, mtime: 0, ctime: 0 }, identity: path, nlink: 1, source: path }) satisfies TreeEntry;

describe('planDirectories', () => {
  it('lists the root, then each directory in tree order, with its children, short names and slots', () => {
    const tree = [
      entry('EFI', 'directory'),
      entry('EFI/BOOT', 'directory'),
      entry('EFI/BOOT/BOOTX64.EFI'),
      entry('loader', 'directory'),
      entry('loader/entries', 'directory'),
      entry('loader/loader.conf'),
    ];
    const plan = planDirectories(tree).map(({ path, children, shortNames, slots }) => ({
      path,
      children: children.map((child) => child.path),
      shortNames: shortNames.map((short) => short.name + (short.needsLongName ? '*' : '')),
      slots,
    }));
    expect(plan).toEqual([
      { path: '', children: ['EFI', 'loader'], shortNames: ['EFI        ', 'LOADER     *'], slots: 3 },
      { path: 'EFI', children: ['EFI/BOOT'], shortNames: ['BOOT       '], slots: 3 },
      { path: 'EFI/BOOT', children: ['EFI/BOOT/BOOTX64.EFI'], shortNames: ['BOOTX64 EFI'], slots: 3 },
      { path: 'loader', children: ['loader/entries', 'loader/loader.conf'], shortNames: ['ENTRIES    *', 'LOADER~1CON*'], slots: 6 },
      { path: 'loader/entries', children: [], shortNames: [], slots: 2 },
    ]);
  });

  it('refuses an entry listed before its directory', () => {
    expect(() => planDirectories([entry('a/b')])).toThrow(/internal: a\/b comes before its directory/);
  });
});
