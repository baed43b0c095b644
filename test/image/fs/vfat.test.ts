import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBootFat, fatProblem, vfat, volumeIdFor } from '../../../src/image/fs/vfat.js';
import type { TreeEntry } from '../../../src/image/fs/tree.js';
import { blkid, filesystemConformance } from './conformance.js';
import { describeTree, makeSampleTree, removeTree, sha256File } from './sample-tree.js';
import { writeWhole } from './write-whole.js';


filesystemConformance({
  fs: vfat,
  label: 'ESP',
  uuid: '1234-ABCD',
  blkidUuid: '1234-ABCD',
  tree: { symlinks: false },
  modes: false,
  byteIdentical: true,
  sizeStep: 4096,
});

const entry = (path: string, kind: TreeEntry['kind'] = 'file'): TreeEntry => ({ path, kind, mode: 0o644, size: 0, identity: path, nlink: 1 });

describe('vfat rules', () => {
  it.each([
    [[entry('EFI', 'directory'), entry('EFI/BOOT', 'directory'), entry('EFI/BOOT/BOOTX64.EFI')], null],
    [[entry('a'), entry('link', 'symlink')], 'FAT cannot hold the symlink link'],
    [[entry('fifo', 'other')], 'FAT cannot hold the special file fifo'],
    [[entry('Readme'), entry('README')], 'FAT names ignore case: Readme and README would be the same entry'],
    [[entry('dir', 'directory'), entry('dir/a:b')], 'FAT names cannot hold control characters or any of "*:<>?\\|: "dir/a:b"'],
    [[entry('tab\there')], 'FAT names cannot hold control characters or any of "*:<>?\\|: "tab\\there"'],
    [[entry('trailing.')], 'FAT names cannot end in a period or a space: "trailing."'],
    [[entry('trailing ')], 'FAT names cannot end in a period or a space: "trailing "'],
    [[entry('x'.repeat(256))], `FAT names hold at most 255 UTF-16 units: ${'x'.repeat(256)}`],
    [[entry('x'.repeat(255)), entry('names with ; , + = [ ] and ünïcødé are fine')], null],
    [[{ ...entry('huge'), size: 2 ** 32 }], 'FAT files hold at most 4294967295 bytes: huge has 4294967296'],
  ])('fatProblem %#', (entries, problem) => {
    expect(fatProblem(entries)).toBe(problem);
  });

  it.each([
    [{ uuid: '1234-abcd', label: 'ESP', deterministic: false }, '1234ABCD'],
    [{ uuid: '1234ABCD', label: 'ESP', deterministic: true }, '1234ABCD'],
    [{ uuid: null, label: 'ESP', deterministic: false }, null],
  ])('volumeIdFor %o', (build, expected) => {
    expect(volumeIdFor(build)).toBe(expected);
  });

  it('derives a deterministic volume id from the label when none is given', () => {
    expect(volumeIdFor({ uuid: null, label: 'ESP', deterministic: true })).toMatch(/^[0-9A-F]{8}$/);
  });

  it('derives different deterministic volume ids for ESP and BOOT', () => {
    expect(volumeIdFor({ uuid: null, label: 'ESP', deterministic: true })).not.toBe(
      volumeIdFor({ uuid: null, label: 'BOOT', deterministic: true }),
    );
  });

  it('rejects a malformed volume id', () => {
    expect(() => volumeIdFor({ uuid: 'not-hex', label: 'ESP', deterministic: true })).toThrow(/XXXX-XXXX/);
  });

  it('refuses a tree with a symlink before writing anything', async () => {
    const source = await makeSampleTree();
    const work = await mkdtemp(join(tmpdir(), 'nixdisk-vfat-'));
    try {
      await expect(
        writeWhole(vfat, { sourceDir: source, output: join(work, 'x.img'), sizeBytes: 8 << 20, label: 'X', uuid: null, deterministic: true, epoch: 1 }),
      ).rejects.toThrow(/FAT cannot hold the symlink bin\/doc-link/);
    } finally {
      await removeTree(source);
      await rm(work, { recursive: true, force: true });
    }
  });
});

async function readBootSector(image: string): Promise<Buffer> {
  const handle = await open(image, 'r');
  try {
    const sector = Buffer.alloc(512);
    await handle.read(sector, 0, 512, 0);
    return sector;
  } finally {
    await handle.close();
  }
}

describe('createBootFat', () => {
  it('fills the filesystem from a directory', async () => {
    const work = await mkdtemp(join(tmpdir(), 'nixdisk-esp-fill-'));
    try {
      const source = join(work, 'src');
      await mkdir(join(source, 'EFI/BOOT'), { recursive: true });
      await mkdir(join(source, 'loader/entries'), { recursive: true });
      await writeFile(join(source, 'EFI/BOOT/BOOTX64.EFI'), Buffer.alloc(100_000, 7));
      await writeFile(join(source, 'loader/loader.conf'), 'timeout 5\n');
      await createBootFat({ output: join(work, 'esp.img'), sizeBytes: 8 << 20, label: 'ESP', volumeId: null, deterministic: true, epoch: 1, sourceDir: source, partitionStartSector: 2048 });
      const dest = join(work, 'dest');
      await mkdir(dest);
      await vfat.extract!(join(work, 'esp.img'), dest);
      expect(await describeTree(dest, { modes: false })).toEqual(await describeTree(source, { modes: false }));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('makes the default ESP FAT16 like mkfs.vfat does in nixpkgs, reproducibly, with the label', async () => {
    const work = await mkdtemp(join(tmpdir(), 'nixdisk-esp-'));
    try {
      const espBytes = (526336 - 16384) * 512;
      const make = (name: string) =>
        createBootFat({ output: join(work, name), sizeBytes: espBytes, label: 'ESP', volumeId: null, deterministic: true, epoch: 1, sourceDir: null, partitionStartSector: 16384 });
      await make('a.img');
      await make('b.img');
      const info = await blkid(join(work, 'a.img'));
      expect(info.VERSION).toBe('FAT16');
      expect(info.LABEL).toBe('ESP');
      expect(await sha256File(join(work, 'a.img'))).toBe(await sha256File(join(work, 'b.img')));
      expect((await readBootSector(join(work, 'a.img'))).readUInt32LE(0x1c)).toBe(16384);
      await vfat.check(join(work, 'a.img'));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('picks FAT32 for a 1 GiB BOOT partition', async () => {
    const work = await mkdtemp(join(tmpdir(), 'nixdisk-boot-'));
    try {
      await createBootFat({ output: join(work, 'boot.img'), sizeBytes: 1 << 30, label: 'BOOT', volumeId: '0000-0001', deterministic: true, epoch: 1, sourceDir: null, partitionStartSector: null });
      const info = await blkid(join(work, 'boot.img'));
      expect((await readBootSector(join(work, 'boot.img'))).readUInt32LE(0x1c)).toBe(0);
      expect(info.VERSION).toBe('FAT32');
      expect(info.UUID).toBe('0000-0001');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
