/**
 * One-pass disk writing: an ext4 filled straight into a raw or qcow2 disk at a partition
 * offset must hold exactly the bytes of the same filesystem filled in its own file, with
 * the other parts in place and nothing else written; the qcow2 must satisfy qemu-img.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportingBytes } from '../../../src/events.js';
import { identityMap } from '../../../src/image/disk/host-map.js';
import { bytesPart, filePart, writeDisk, type Container, type DiskPart } from '../../../src/image/disk/write-disk.js';
import { ext4 } from '../../../src/image/fs/ext4.js';
import type { PendingFilesystem } from '../../../src/image/fs/filesystem.js';
import { writeSampleTree } from '../fs/sample-tree.js';

const MiB = 1 << 20;
const FS_BYTES = 24 * MiB;
/** Root at 1 MiB plus a sector: not cluster-aligned, so qcow2 clusters are shared between parts. */
const ROOT_OFFSET = MiB + 512;
const DISK_BYTES = 28 * MiB;
const toolEnv = { PATH: `${process.env.PATH}:/usr/sbin:/sbin` };

describe('writeDisk', () => {
  let dir: string;
  let sourceDir: string;
  let inPlace: Buffer;
  let bootFile: string;
  const head = Buffer.from('a table in the first sector\n');
  const tail = Buffer.from('a backup at the end\n');

  const prepare = (name: string): Promise<PendingFilesystem> =>
    ext4.write({ sourceDir, output: join(dir, `${name}.fs`), sizeBytes: FS_BYTES, label: 'nixos', uuid: null, deterministic: true, epoch: 1 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nixdisk-write-disk-'));
    sourceDir = join(dir, 'tree');
    await execa('mkdir', [sourceDir]);
    await writeSampleTree(sourceDir);
    // Files big enough for multi-block extents across several clusters.
    for (let i = 0; i < 4; i++) await writeFile(join(sourceDir, `blob-${i}`), Buffer.alloc(700_000 + i * 4097, i + 1));
    const own = await prepare('in-place');
    await own.fill({ path: own.file, map: identityMap(own.sizeBytes) });
    inPlace = await readFile(own.file);
    bootFile = join(dir, 'boot.part');
    // A sparse "boot partition": data in one block in the middle, zeros around it.
    await writeFile(bootFile, Buffer.alloc(0));
    await execa('truncate', ['-s', String(512 * 1024), bootFile]);
    await execa('dd', ['if=/dev/urandom', `of=${bootFile}`, 'bs=4096', 'seek=17', 'count=1', 'conv=notrunc'], { env: toolEnv });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  let builds = 0;
  async function diskOf(container: Container): Promise<{ raw: Buffer; image: string }> {
    const name = `${container}-${++builds}`;
    const pending = await prepare(`root-${name}`);
    const parts: DiskPart[] = [
      bytesPart(0, 512, head),
      filePart(4096, 512 * 1024, bootFile),
      { offsetBytes: ROOT_OFFSET, sizeBytes: FS_BYTES, ranges: () => pending.ranges(), writeTo: (target) => pending.fill(target) },
      bytesPart(DISK_BYTES - 512, 512, tail),
    ];
    const image = join(dir, `disk-${name}.${container}`);
    const progress: [number, number][] = [];
    await reportingBytes((done, total) => progress.push([done, total]), () => writeDisk(image, container, DISK_BYTES, parts));
    const raw = join(dir, `disk-${name}.as-raw`);
    await execa('qemu-img', ['convert', '-f', container, '-O', 'raw', image, raw]);
    return { raw: await readFile(raw), image, progress };
  }

  it.each<Container>(['raw', 'qcow2', 'vdi', 'vpc'])('%s: the root filesystem is the in-place one, byte for byte, among the other parts', async (container) => {
    const { raw, progress } = await diskOf(container);
    // The file data copy reports its bytes, ending with all of them.
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);
    expect(progress.at(-1)![1]).toBeGreaterThan(4 * 700_000);
    expect(raw.length).toBe(DISK_BYTES);
    expect(raw.subarray(ROOT_OFFSET, ROOT_OFFSET + FS_BYTES).equals(inPlace)).toBe(true);
    expect(raw.subarray(0, head.length).equals(head)).toBe(true);
    expect(raw.subarray(4096, 4096 + 512 * 1024).equals(await readFile(bootFile))).toBe(true);
    expect(raw.subarray(DISK_BYTES - 512, DISK_BYTES - 512 + tail.length).equals(tail)).toBe(true);
    // Between the parts: zeros.
    expect(raw.subarray(4096 + 512 * 1024, ROOT_OFFSET).equals(Buffer.alloc(ROOT_OFFSET - 4096 - 512 * 1024))).toBe(true);
  });

  it('qcow2: qemu-img check is clean and only clusters with data are stored', async () => {
    const { image } = await diskOf('qcow2');
    const check = await execa('qemu-img', ['check', image], { reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('No errors were found');
    const map: { start: number; length: number; data: boolean }[] = JSON.parse((await execa('qemu-img', ['map', '--output=json', image])).stdout);
    const stored = map.filter((entry) => entry.data).reduce((sum, entry) => sum + entry.length, 0);
    // The tree and mke2fs' metadata are a few MiB; the journal and inode tables mke2fs left as zeros are not stored.
    expect(stored).toBeGreaterThan(3 * MiB);
    expect(stored).toBeLessThan(DISK_BYTES / 3);
  });
});
