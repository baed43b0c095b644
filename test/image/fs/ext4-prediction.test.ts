/**
 * ext4's size prediction writes no data: it plans the tree against empty filesystems.
 * This checks that it stays exact for files full of zeros and with zero blocks between
 * data, which nixdisk stores as ordinary blocks.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ext4 } from '../../../src/image/fs/ext4.js';
import { FilesystemTooSmallError } from '../../../src/image/fs/filesystem.js';
import { writeWhole } from './write-whole.js';

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
    const size = await ext4.size({ sourceDir, ...build }, { spareBytes: 0, workDir: dir });
    await writeWhole(ext4, { sourceDir, ...build, output: join(dir, 'fits.img'), sizeBytes: size });
    await expect(writeWhole(ext4, { sourceDir, ...build, output: join(dir, 'short.img'), sizeBytes: size - 4096 })).rejects.toBeInstanceOf(FilesystemTooSmallError);
  });
});
