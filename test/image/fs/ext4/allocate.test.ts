/** planPopulation and contiguousDemand on small made-up trees: inode numbers, links, where blocks go, when it does not fit. */
import { describe, expect, it } from 'vitest';
import { contiguousDemand } from '../../../../src/image/fs/ext4.js';
import { extentsOf, OutOfSpaceError, planPopulation, plannedInodes, type FreeSpace } from '../../../../src/image/fs/ext4/allocate.js';
import { FILE_TYPE } from '../../../../src/image/fs/ext4/structures.js';
import type { TreeEntry } from '../../../../src/image/fs/tree.js';

function entry(path: string, kind: TreeEntry['kind'], extra: Partial<TreeEntry> = {}): TreeEntry {
  return {
    path,
    source: `/host/${path}`,
    kind,
    mode: kind === 'directory' ? 0o755 : 0o644,
    format: { file: 0o100000, directory: 0o040000, symlink: 0o120000, other: 0o010000 }[kind],
    rdev: 0,
    times: { atime: 0, mtime: 0, ctime: 0 },
    size: 0,
    identity: `0:${path}`,
    nlink: 1,
    ...extra,
  };
}

const ROOT = { block: 50, entries: [{ name: 'lost+found', ino: 11, fileType: FILE_TYPE.directory }] };
const ROOMY: FreeSpace = { blocks: [[100, 100_000]], inodes: [[12, 1000]] };

const TREE = [
  entry('pkg', 'directory'),
  entry('pkg/bin', 'directory'),
  entry('pkg/bin/tool', 'file', { size: 10_000, identity: 'tool', nlink: 2 }),
  entry('pkg/bin/tool-again', 'file', { size: 10_000, identity: 'tool', nlink: 2 }),
  entry('pkg/lib', 'symlink', { linkTarget: 'x'.repeat(60) }),
  entry('pkg/short', 'symlink', { linkTarget: 'bin/tool' }),
  entry('pkg/empty', 'file'),
];

describe('planPopulation', () => {
  const plan = planPopulation(TREE, ROOMY, ROOT, 4096);
  const inodes = [...plannedInodes(plan)];
  const byPath = (path: string) => inodes.find((inode) => inode.entry?.path === path)!;

  it('numbers inodes from the first free one, parents first, a hard link sharing its inode', () => {
    expect(inodes.map((inode) => [inode.ino, inode.entry?.path ?? '/', inode.links])).toEqual([
      [2, '/', 4],
      [12, 'pkg', 3],
      [13, 'pkg/bin', 2],
      [14, 'pkg/bin/tool', 2],
      [15, 'pkg/lib', 1],
      [16, 'pkg/short', 1],
      [17, 'pkg/empty', 1],
    ]);
  });

  it('lists directory entries with their file types after "." and "..", lost+found kept in the root', () => {
    expect(inodes[0]!.directory!.map((d) => [d.name.toString(), d.ino, d.fileType])).toEqual([
      ['.', 2, 2],
      ['..', 2, 2],
      ['lost+found', 11, 2],
      ['pkg', 12, 2],
    ]);
    expect(byPath('pkg/bin').directory!.map((d) => [d.name.toString(), d.ino])).toEqual([
      ['.', 13],
      ['..', 12],
      ['tool', 14],
      ['tool-again', 14],
    ]);
  });

  it('reuses the root block mke2fs made and gives blocks first-fit in walk order', () => {
    expect(inodes[0]!.extents).toEqual([{ logical: 0, physical: 50, length: 1 }]);
    expect(byPath('pkg').extents).toEqual([{ logical: 0, physical: 100, length: 1 }]);
    expect(byPath('pkg/bin').extents).toEqual([{ logical: 0, physical: 101, length: 1 }]);
    expect(byPath('pkg/bin/tool').extents).toEqual([{ logical: 0, physical: 102, length: 3 }]);
    // a target of 60 bytes or more takes a block; a shorter one lives in the inode
    expect(byPath('pkg/lib').extents).toEqual([{ logical: 0, physical: 105, length: 1 }]);
    expect(byPath('pkg/short').extents).toEqual([]);
    expect(byPath('pkg/empty').extents).toEqual([]);
    expect(plan.blocksUsed).toBe(6);
    expect(plan.inodesUsed).toBe(6);
  });

  it('splits a file over free runs and adds an extent-tree block past four extents', () => {
    const free: FreeSpace = { blocks: [[10, 11], [20, 21], [30, 31], [40, 41], [50, 52]], inodes: [[12, 20]] };
    const big = [...plannedInodes(planPopulation([entry('big', 'file', { size: 9 * 4096 })], free, ROOT, 4096))][1]!;
    expect(big.extents.map((extent) => [extent.logical, extent.physical, extent.length])).toEqual([
      [0, 10, 2],
      [2, 20, 2],
      [4, 30, 2],
      [6, 40, 2],
      [8, 50, 1],
    ]);
    expect(big.treeBlocks).toEqual([51]);
  });

  it('says how much is missing when the tree does not fit', () => {
    const tight: FreeSpace = { blocks: [[100, 101]], inodes: [[12, 12]] };
    expect(() => planPopulation(TREE, tight, ROOT, 4096)).toThrow(OutOfSpaceError);
    try {
      planPopulation(TREE, tight, ROOT, 4096);
    } catch (error) {
      expect([(error as OutOfSpaceError).missingBlocks, (error as OutOfSpaceError).missingInodes]).toEqual([4, 5]);
    }
  });

  it('refuses a tree with its own lost+found', () => {
    expect(() => planPopulation([entry('lost+found', 'directory')], ROOMY, ROOT, 4096)).toThrow('the source tree has its own /lost+found');
  });
});

describe('extentsOf', () => {
  it.each([
    ['adjacent runs join', [[10, 5], [15, 5]], [[0, 10, 10]]],
    ['a gap starts a new extent', [[10, 5], [16, 5]], [[0, 10, 5], [5, 16, 5]]],
    ['no extent passes 32768 blocks', [[0, 40000]], [[0, 0, 32768], [32768, 32768, 7232]]],
  ] as const)('%s', (_name, runs, expected) => {
    expect(extentsOf(runs).map((extent) => [extent.logical, extent.physical, extent.length])).toEqual(expected);
  });
});

describe('contiguousDemand', () => {
  const wide = Array.from({ length: 400 }, (_, index) => entry(`pkg/file-${String(index).padStart(3, '0')}`, 'file', { size: index * 1000 }));
  it.each([
    ['the mixed tree', TREE],
    ['a directory of 400 files, spilling into more blocks', [entry('pkg', 'directory'), ...wide]],
    ['a root with many entries', Array.from({ length: 300 }, (_, index) => entry(`top-level-name-${index}`, 'file', { size: 1 }))],
  ])('equals the plan on unlimited space for %s', (_name, tree) => {
    const plan = planPopulation(tree, { blocks: [[1, 10_000_000]], inodes: [[12, 1_000_000]] }, ROOT, 4096);
    expect(contiguousDemand(tree, 4096)).toEqual({ blocks: plan.blocksUsed, inodes: plan.inodesUsed });
  });
});
