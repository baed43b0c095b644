/**
 * VDI and VHD written by nixdisk in one pass: byte for byte what `qemu-img convert` made
 * before (with the identities format-identity pins), and read back by the real qemu-img
 * (check, compare against the raw twin, map) over block boundaries, incompressible data,
 * zero runs and a partial last block.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRawDisk } from '../../helpers/raw-disk.js';
import { pinVdiHeader, pinVhdFooter, VHD_FOOTER_SIZE } from '../../../src/image/format-identity.js';
import { filePart, writeDisk } from '../../../src/image/disk/write-disk.js';

const MiB = 1 << 20;
const identity = { seed: 'disk-seed', unixTime: 1 };

/** What nixdisk made of qemu-img's output before it wrote these formats itself. */
function pinnedQemuOutput(bytes: Buffer, format: 'vdi' | 'vpc'): Buffer {
  if (format === 'vdi') return Buffer.concat([pinVdiHeader(bytes.subarray(0, 512), identity.seed), bytes.subarray(512)]);
  const footer = pinVhdFooter(bytes.subarray(0, VHD_FOOTER_SIZE), identity.seed, identity.unixTime);
  return Buffer.concat([footer, bytes.subarray(VHD_FOOTER_SIZE, bytes.length - VHD_FOOTER_SIZE), footer]);
}

const disks: { name: string; diskBytes: number; writes: [number, Buffer][] }[] = [
  {
    name: 'data across block boundaries, zero runs, a partial last block',
    diskBytes: 9 * MiB + 3 * 512,
    writes: [
      [100, Buffer.from('hello')],
      [MiB - 3, randomBytes(6)],
      [2 * MiB - 3, randomBytes(6)],
      [4 * MiB + 5, randomBytes(MiB)],
      [9 * MiB + 512, randomBytes(1024)],
    ],
  },
  {
    // 3 GiB + 1 MiB: block maps longer than a sector.
    name: 'a block map over several sectors',
    diskBytes: 3073 * MiB,
    writes: [
      [0, Buffer.from('first')],
      [1536 * MiB + 77, randomBytes(3 * MiB)],
      [3073 * MiB - 10, Buffer.from('last bytes')],
    ],
  },
];

describe.each(disks)('vdi and vpc: $name', ({ name, diskBytes, writes }) => {
  let dir: string;
  let raw: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nixdisk-vdi-vhd-'));
    raw = join(dir, 'disk.raw');
    await writeRawDisk(raw, diskBytes, writes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const qemuImg = (args: string[]) => execa('qemu-img', args, { reject: false });

  it.each(['vdi', 'vpc'] as const)('%s', async (format) => {
    const ours = join(dir, `ours.${format}`);
    await writeDisk(ours, format, diskBytes, [filePart(0, diskBytes, raw)], identity);
    const theirs = join(dir, `theirs.${format}`);
    await execa('qemu-img', ['convert', '-f', 'raw', '-O', format, ...(format === 'vpc' ? ['-o', 'force_size=on'] : []), raw, theirs]);
    const [oursBytes, theirBytes] = [await readFile(ours), pinnedQemuOutput(await readFile(theirs), format)];
    expect(oursBytes.length, name).toBe(theirBytes.length);
    expect(oursBytes.equals(theirBytes)).toBe(true);

    if (format === 'vdi') {
      const check = await qemuImg(['check', '-f', format, ours]);
      expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    }
    const compare = await qemuImg(['compare', '-f', 'raw', '-F', format, raw, ours]);
    expect(compare.exitCode, compare.stdout + compare.stderr).toBe(0);
    const map: { start: number; length: number; data: boolean }[] = JSON.parse((await qemuImg(['map', '-f', format, '--output=json', ours])).stdout);
    const block = format === 'vdi' ? MiB : 2 * MiB;
    const blocksWithData = new Set<number>();
    for (const [at, bytes] of writes) for (let b = Math.floor(at / block); b <= Math.floor((at + bytes.length - 1) / block); b++) blocksWithData.add(b);
    const mapped = map.filter((entry) => entry.data).reduce((sum, entry) => sum + entry.length, 0);
    const lastBlock = Math.ceil(diskBytes / block) - 1;
    expect(mapped).toBe(blocksWithData.size * block - (blocksWithData.has(lastBlock) ? (lastBlock + 1) * block - diskBytes : 0));

    // Without pinned identities, the bytes that carry them differ from run to run and the disk reads the same.
    const random = join(dir, `random.${format}`);
    await writeDisk(random, format, diskBytes, [filePart(0, diskBytes, raw)]);
    expect((await readFile(random)).equals(oursBytes)).toBe(false);
    expect((await qemuImg(['compare', '-f', 'raw', '-F', format, raw, random])).exitCode).toBe(0);
  });
});
