/** Trees at the edges of the size search: nothing at all, and thousands of empty files (inode-bound, not block-bound). */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemTooSmallError } from '../../../src/image/fs/filesystem.js';
import { FILESYSTEMS } from '../../../src/image/fs/index.js';
import { writeWhole } from './write-whole.js';

const TREES: Record<string, { fsTypes: string[]; make: (dir: string) => Promise<void> }> = {
  'an empty tree': { fsTypes: Object.keys(FILESYSTEMS), make: async () => {} },
  '3000 empty files': {
    fsTypes: ['ext4', 'erofs', 'squashfs'],
    make: async (dir) => {
      for (let i = 0; i < 3000; i++) await writeFile(join(dir, `e${i}`), '');
    },
  },
};

for (const [treeName, { fsTypes, make }] of Object.entries(TREES)) {
  describe(treeName, () => {
    let source: string;
    let work: string;
    beforeAll(async () => {
      source = await mkdtemp(join(tmpdir(), 'nixdisk-edge-src-'));
      work = await mkdtemp(join(tmpdir(), 'nixdisk-edge-out-'));
      await make(source);
    });
    afterAll(async () => {
      await rm(source, { recursive: true, force: true });
      await rm(work, { recursive: true, force: true });
    });

    for (const fsType of fsTypes) {
      it(`${fsType}: the minimum fits, checks clean, and one block less does not`, async () => {
        const fs = FILESYSTEMS[fsType]!;
        const build = { sourceDir: source, label: '', uuid: null, deterministic: true, epoch: 1 };
        const output = join(work, `${fsType}.img`);
        const size = await writeWhole(fs, { ...build, output, sizeBytes: { spareBytes: 0, workDir: work } });
        await fs.check(output);
        await expect(writeWhole(fs, { ...build, output: join(work, 'below.img'), sizeBytes: size - 4096 })).rejects.toBeInstanceOf(
          FilesystemTooSmallError,
        );
        await rm(output);
        expect(await readdir(work)).toEqual([]);
      }, 120_000);
    }
  });
}

describe('sizes too small for any filesystem', () => {
  it.each(Object.keys(FILESYSTEMS))('%s at 0 bytes is too small, not a tool failure', async (fsType) => {
    const source = await mkdtemp(join(tmpdir(), 'nixdisk-zero-src-'));
    const work = await mkdtemp(join(tmpdir(), 'nixdisk-zero-out-'));
    try {
      const build = { sourceDir: source, output: join(work, 'zero.img'), sizeBytes: 0, label: '', uuid: null, deterministic: true, epoch: 1 };
      await expect(writeWhole(FILESYSTEMS[fsType]!, build)).rejects.toBeInstanceOf(FilesystemTooSmallError);
      expect(await readdir(work)).toEqual([]);
    } finally {
      await rm(source, { recursive: true, force: true });
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('an output inside the source tree', () => {
  it.each(Object.keys(FILESYSTEMS))('%s refuses it before writing anything', async (fsType) => {
    const source = await mkdtemp(join(tmpdir(), 'nixdisk-inside-'));
    try {
      const build = { sourceDir: source, output: join(source, 'sub/../root.img'), sizeBytes: 400 << 20, label: '', uuid: null, deterministic: true, epoch: 1 };
      await expect(writeWhole(FILESYSTEMS[fsType]!, build)).rejects.toThrow(/lies inside the source tree/);
      await expect(writeWhole(FILESYSTEMS[fsType]!, { ...build, sizeBytes: { spareBytes: 0, workDir: tmpdir() } })).rejects.toThrow(/lies inside the source tree/);
      expect(await readdir(source)).toEqual([]);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });
});
