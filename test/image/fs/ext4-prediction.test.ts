/**
 * ext4's size prediction writes no data: it counts non-zero blocks and bounds the
 * extent tree. These check the bound and that the prediction stays exact for trees
 * with zero-filled and holed files, which mke2fs stores as holes.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ext4, extentTreeBlocks } from '../../../src/image/fs/ext4.js';
import { FilesystemTooSmallError } from '../../../src/image/fs/filesystem.js';

describe('extentTreeBlocks', () => {
  it.each([
    [[], 0],
    [[1], 0],
    [[32768], 0],
    [[1, 1, 1], 0],
    // 3 runs + 1 possible group split = 4: still in the inode.
    [[10, 10, 10], 0],
    [[10, 10, 10, 10], 1],
    // 600 MiB contiguous: 5 extents by length, up to 5 group splits.
    [[153600], 1],
    // 2000 runs: 2001 extents need 6 leaf blocks, and those 6 an index block.
    [Array(2000).fill(1), 7],
  ])('%j → %i', (runs, expected) => expect(extentTreeBlocks(runs)).toBe(expected));
});

describe('ext4 prediction with holes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nixdisk-ext4-holes-'));
    const source = join(dir, 'src');
    await mkdir(join(source, 'share'), { recursive: true });
    const data = Buffer.alloc(4096 * 40);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
    // 40 data blocks with zero blocks between: several runs, several extents.
    const holed = Buffer.concat([data.subarray(0, 4096 * 10), Buffer.alloc(4096 * 5), data.subarray(0, 4096 * 10), Buffer.alloc(4096 * 3), data.subarray(0, 4096 * 20), Buffer.alloc(100)]);
    await writeFile(join(source, 'share', 'holed'), holed);
    await writeFile(join(source, 'share', 'zeros'), Buffer.alloc(1024 * 1024));
    await writeFile(join(source, 'share', 'data'), data);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const build = { label: 'nix-store', uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f', deterministic: true, epoch: 1 };

  it('predicts the exact smallest size: it builds, and one block less does not', async () => {
    const sourceDir = join(dir, 'src');
    const size = await ext4.minimumSize({ sourceDir, ...build }, dir);
    await ext4.create({ sourceDir, ...build, output: join(dir, 'fits.img'), sizeBytes: size });
    await expect(ext4.create({ sourceDir, ...build, output: join(dir, 'short.img'), sizeBytes: size - 4096 })).rejects.toBeInstanceOf(FilesystemTooSmallError);
  });
});
