/**
 * nixdisk's FAT writer against the real tools: fsck.fat finds nothing to say, mtools
 * reads back every name and byte, for each FAT type mkfs.vfat picks by size.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolSearchPath } from '../../../../src/tools.js';
import { FilesystemTooSmallError } from '../../../../src/image/fs/filesystem.js';
import { createBootFat, vfat, type BootFatBuild } from '../../../../src/image/fs/vfat.js';
import { blkid } from '../conformance.js';
import { describeTree } from '../sample-tree.js';

/** Bytes that differ from file to file and run to run alike. */
function bytesFor(seed: string, length: number): Buffer {
  const parts: Buffer[] = [];
  for (let index = 0; parts.length * 32 < length; index++) parts.push(createHash('sha256').update(`${seed}:${index}`).digest());
  return Buffer.concat(parts).subarray(0, length);
}

/** A boot partition's kind of tree and the corners of FAT: 8.3 collisions, long and non-ASCII names, empty things, exact clusters, a deep path, a directory of many clusters. */
async function writeTree(dir: string, largeBytes: number): Promise<void> {
  const file = async (path: string, bytes: Buffer | string) => {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), bytes);
  };
  await file('EFI/BOOT/BOOTX64.EFI', bytesFor('efi', largeBytes));
  await file('EFI/nixos/abc123-linux-6.6-bzImage.efi', bytesFor('kernel', 70_000));
  for (let generation = 1; generation <= 12; generation++) await file(`loader/entries/nixos-generation-${generation}.conf`, `title NixOS ${generation}\n`);
  await file('loader/loader.conf', 'timeout 5\n');
  await file('one-cluster-2k', bytesFor('2k', 2048));
  await file('one-cluster-4k', bytesFor('4k', 4096));
  await file('empty', '');
  await mkdir(join(dir, 'empty-dir/inner-empty'), { recursive: true });
  await file(`${Array.from({ length: 12 }, (_, depth) => `level-${depth}`).join('/')}/deep.txt`, 'deep\n');
  for (let index = 0; index < 150; index++) await file(`many/file with a long name ${index}.txt`, `${index}\n`);
  await file('naïve file ✓.txt', 'unicode\n');
  await file('.hidden', 'hidden\n');
  await file('Mixed.Case.Name.tar.gz', 'mixed\n');
  await file('x'.repeat(255), 'longest name\n');
}

const MTOOLS_ENV = { PATH: toolSearchPath(process.env.PATH), LC_ALL: 'C.UTF-8', TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' };

async function shortNamesIn(image: string, directory: string): Promise<string[]> {
  const { stdout } = await execa('mdir', ['-i', image, `::/${directory}`], { env: MTOOLS_ENV });
  return stdout.split('\n').filter((line) => /^\S.{11} /.test(line) && !/^(Directory|Volume) /.test(line)).map((line) => line.slice(0, 12).trimEnd());
}

const SIZES: [type: string, sizeBytes: number, largeBytes: number][] = [
  ['FAT12', 4 << 20, 1_300_000],
  ['FAT16', 64 << 20, 20_000_000],
  ['FAT32', 512 << 20, 20_000_000],
];

describe.each(SIZES)('%s', (fatType, sizeBytes, largeBytes) => {
  let work: string;
  let source: string;
  const build = (name: string, extra: Partial<BootFatBuild> = {}): BootFatBuild => ({
    output: join(work, name),
    sizeBytes,
    label: 'ESP',
    volumeId: '1234-ABCD',
    deterministic: true,
    epoch: 1,
    sourceDir: source,
    partitionStartSector: 2048,
    ...extra,
  });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'nixdisk-fat-'));
    source = join(work, 'source');
    await writeTree(source, largeBytes);
    await createBootFat(build('a.img'));
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it(`is ${fatType}, and fsck.fat finds nothing to report`, async () => {
    expect((await blkid(join(work, 'a.img'))).VERSION).toBe(fatType);
    const output = await vfat.check(join(work, 'a.img'));
    expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^fsck\.fat 4\.2/), expect.stringMatching(/a\.img: \d+ files, \d+\/\d+ clusters$/)]);
  });

  it('reads back with mtools: every name and byte, empty files and directories too', async () => {
    const dest = join(work, 'extracted');
    await mkdir(dest);
    await vfat.extract!(join(work, 'a.img'), dest);
    const extracted = await describeTree(dest, { modes: false });
    expect(extracted).toEqual(await describeTree(source, { modes: false }));
    expect(Object.keys(extracted).length).toBeGreaterThan(190);
  });

  it('gives each entry of a directory its own 8.3 name', async () => {
    expect(await shortNamesIn(join(work, 'a.img'), 'loader/entries')).toEqual([
      '.',
      '..',
      ...Array.from({ length: 9 }, (_, index) => `NIXOS-~${index + 1} CON`),
      ...['NIXOS~10 CON', 'NIXOS~11 CON', 'NIXOS~12 CON'],
    ]);
    expect(await shortNamesIn(join(work, 'a.img'), 'EFI/BOOT')).toEqual(['.', '..', 'BOOTX64  EFI']);
  });

  it('is byte-identical when built again', async () => {
    await createBootFat(build('b.img'));
    // cmp, not a hash in node: half a GiB of FAT32 read into memory twice took 15 s.
    await expect(execa('cmp', [join(work, 'a.img'), join(work, 'b.img')])).resolves.toMatchObject({ exitCode: 0 });
  });
});

describe('when the tree does not fit', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'nixdisk-fat-full-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const attempt = (source: string, sizeBytes: number) =>
    createBootFat({ output: join(work, 'out.img'), sizeBytes, label: 'ESP', volumeId: null, deterministic: true, epoch: 1, sourceDir: source, partitionStartSector: null });

  it.each([
    ['out of clusters: a 3 MB file on 2 MiB of FAT12', async (dir: string) => writeFile(join(dir, 'big'), bytesFor('big', 3_000_000)), 2 << 20, /2097152 bytes is too small: the tree needs 1465 clusters of 2048 bytes, 1014 are free/],
    [
      "out of FAT16's 512 root slots: 200 long names in the root",
      async (dir: string) => {
        for (let index = 0; index < 200; index++) await writeFile(join(dir, `a long root file name ${index}`), '');
      },
      64 << 20,
      /67108864 bytes is too small: the root directory has 512 slots, the tree needs 601/,
    ],
  ])('%s: FilesystemTooSmallError, nothing left behind', async (_name, make, sizeBytes, message) => {
    const source = await mkdtemp(join(work, 'source-'));
    await make(source);
    const failure = attempt(source, sizeBytes);
    await expect(failure).rejects.toBeInstanceOf(FilesystemTooSmallError);
    await expect(failure).rejects.toThrow(message);
    await rm(source, { recursive: true });
    expect(await readdir(work)).toEqual([]);
  });

  it('the same 200 long names fit a FAT32 root, which grows by clusters', async () => {
    const source = await mkdtemp(join(work, 'source-'));
    for (let index = 0; index < 200; index++) await writeFile(join(source, `a long root file name ${index}`), `${index}`);
    await attempt(source, 512 << 20);
    await vfat.check(join(work, 'out.img'));
    const dest = await mkdtemp(join(work, 'dest-'));
    await vfat.extract!(join(work, 'out.img'), dest);
    expect(await describeTree(dest, { modes: false })).toEqual(await describeTree(source, { modes: false }));
    await rm(work, { recursive: true, force: true });
    await mkdir(work);
  });
});

describe('a build that is not deterministic', () => {
  it("keeps each file's modification time (to FAT's two seconds)", async () => {
    const work = await mkdtemp(join(tmpdir(), 'nixdisk-fat-times-'));
    try {
      const source = join(work, 'source');
      await mkdir(join(source, 'dir'), { recursive: true });
      await writeFile(join(source, 'dir/file'), 'x');
      const when = new Date('2024-05-06T07:08:11Z');
      await utimes(join(source, 'dir/file'), when, when);
      await createBootFat({ output: join(work, 'esp.img'), sizeBytes: 8 << 20, label: 'ESP', volumeId: null, deterministic: false, epoch: 1, sourceDir: source, partitionStartSector: null });
      const dest = join(work, 'dest');
      await mkdir(dest);
      await vfat.extract!(join(work, 'esp.img'), dest);
      expect((await stat(join(dest, 'dir/file'))).mtime.toISOString()).toBe('2024-05-06T07:08:10.000Z');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
