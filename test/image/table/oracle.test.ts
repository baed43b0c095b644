/**
 * The real tools as the oracle: nixpkgs' own parted (+ sgdisk) commands on a blank file
 * against nixdisk's bytes on a file of the same size.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartitionTableType } from '../../../src/options.js';
import { gptBytes } from '../../../src/image/table/gpt.js';
import { bootEndMiBFromBytes, layoutPartitions, LayoutError, smallestDiskSectors } from '../../../src/image/table/layouts.js';
import { mbrBytes } from '../../../src/image/table/mbr.js';
import { parseIecSize } from '../../../src/units.js';
import { blankFile, env, nixpkgsCommands, ROOT_GPUID, sfdiskJson } from '../../helpers/parted-oracle.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nixdisk-table-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeAt(path: string, totalSectors: number, pieces: { offset: number; bytes: Buffer }[]): Promise<void> {
  await blankFile(path, totalSectors);
  const handle = await open(path, 'r+');
  for (const piece of pieces) await handle.write(piece.bytes, 0, piece.bytes.length, piece.offset);
  await handle.close();
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  const buffer = Buffer.alloc(length);
  await handle.read(buffer, 0, length, offset);
  await handle.close();
  return buffer;
}

const cases: { type: PartitionTableType; mib: number; bootSize: string }[] = [];
for (const type of ['legacy', 'legacy+boot', 'legacy+gpt', 'efi', 'efixbootldr', 'hybrid'] as const) {
  cases.push({ type, mib: 2048, bootSize: '256M' }, { type, mib: 300, bootSize: '256M' });
  if (type === 'efixbootldr') cases.push({ type, mib: 200, bootSize: '150M' }, { type, mib: 201, bootSize: '100M' });
  else cases.push({ type, mib: 64, bootSize: '32M' }, { type, mib: 200, bootSize: '20M' }, { type, mib: 201, bootSize: '20M' });
}
cases.push({ type: 'efi', mib: 3 * 1024 * 1024, bootSize: '256M' }, { type: 'hybrid', mib: 3 * 1024 * 1024, bootSize: '1G' });

describe('nixdisk tables equal parted + sgdisk output (nixpkgs commands)', () => {
  it.each(cases)('$type on $mib MiB, bootSize $bootSize', async ({ type, mib, bootSize }) => {
    const totalSectors = mib * 2048;
    const bootSizeBytes = parseIecSize(bootSize)!;
    const reference = join(dir, `ref-${type}-${mib}.img`);
    const ours = join(dir, `ours-${type}-${mib}.img`);

    await blankFile(reference, totalSectors);
    const commands = nixpkgsCommands(type, `${bootEndMiBFromBytes(bootSizeBytes)}MiB`, ROOT_GPUID);
    await execa('parted', ['--script', '-a', 'optimal', reference, '--', ...commands.parted], { env });
    if (commands.sgdisk) await execa('sgdisk', [...commands.sgdisk, reference], { env });

    const table = layoutPartitions(type, totalSectors, bootSizeBytes, ROOT_GPUID, true);
    if (table.kind === 'gpt') {
      const { primary, backup } = gptBytes(table, totalSectors);
      await writeAt(ours, totalSectors, [
        { offset: 0, bytes: primary },
        { offset: (totalSectors - 33) * 512, bytes: backup },
      ]);
      // Every byte of both GPT copies, protective MBR included.
      expect((await readAt(ours, 0, 34 * 512)).equals(await readAt(reference, 0, 34 * 512))).toBe(true);
      const tail = (totalSectors - 33) * 512;
      expect((await readAt(ours, tail, 33 * 512)).equals(await readAt(reference, tail, 33 * 512))).toBe(true);
      const verify = await execa('sgdisk', ['-v', ours], { env });
      expect(verify.stdout).toContain('No problems found');
      expect(await sfdiskJson(ours)).toEqual(await sfdiskJson(reference));
    } else {
      await writeAt(ours, totalSectors, [{ offset: 0, bytes: mbrBytes(table, totalSectors) }]);
      const [oursSector, referenceSector] = [await readAt(ours, 0, 512), await readAt(reference, 0, 512)];
      // The partition entries and 0x55AA; the signature (0x1B8) is random in parted's.
      expect(oursSector.subarray(0x1bc).equals(referenceSector.subarray(0x1bc))).toBe(true);
      const [oursJson, referenceJson] = [await sfdiskJson(ours), await sfdiskJson(reference)];
      expect(oursJson.id).toBe(`0x${table.mbrSignature!.toString(16).padStart(8, '0')}`);
      expect({ ...oursJson, id: 'random' }).toEqual({ ...referenceJson, id: 'random' });
    }
    await rm(reference);
    await rm(ours);
  });

  it.each([
    { type: 'legacy', mib: 3 * 1024 * 1024, bootSize: '256M', message: /2 TiB/ },
    { type: 'legacy+gpt', mib: 3, bootSize: '256M', message: /cannot end a partition at 100%/ },
    { type: 'efixbootldr', mib: 512, bootSize: '99M', message: /bootSize must end after 100MiB/ },
    { type: 'efi', mib: 64, bootSize: '256M', message: /too small.*needs at least 259 MiB/ },
    { type: 'legacy+boot', mib: 64, bootSize: '0', message: /bootSize must end after 1MiB/ },
  ] as const)('refuses $type on $mib MiB with bootSize $bootSize, as parted does', async ({ type, mib, bootSize, message }) => {
    const totalSectors = mib * 2048;
    const bootSizeBytes = parseIecSize(bootSize)!;
    const reference = join(dir, `ref-refused-${type}-${mib}.img`);
    await blankFile(reference, totalSectors);
    const commands = nixpkgsCommands(type, `${bootEndMiBFromBytes(bootSizeBytes)}MiB`, ROOT_GPUID);
    const parted = await execa('parted', ['--script', '-a', 'optimal', reference, '--', ...commands.parted], { env, reject: false });
    expect(parted.exitCode).not.toBe(0);
    expect(() => layoutPartitions(type, totalSectors, bootSizeBytes, ROOT_GPUID)).toThrow(LayoutError);
    expect(() => layoutPartitions(type, totalSectors, bootSizeBytes, ROOT_GPUID)).toThrow(message);
    await rm(reference);
  });

  it('gives the smallest auto-size disk parted accepts (legacy+gpt, 1 sector of root)', async () => {
    const totalSectors = smallestDiskSectors('legacy+gpt', 512, 0);
    expect(totalSectors).toBe(4 * 2048);
    const reference = join(dir, 'ref-smallest.img');
    await blankFile(reference, totalSectors);
    const commands = nixpkgsCommands('legacy+gpt', '1MiB', ROOT_GPUID);
    await execa('parted', ['--script', '-a', 'optimal', reference, '--', ...commands.parted], { env });
    const partitions = (await sfdiskJson(reference)).partitions as { start: number; size: number }[];
    const ours = layoutPartitions('legacy+gpt', totalSectors, 0, ROOT_GPUID).partitions;
    expect(ours.map((p) => ({ start: p.firstSector, size: p.lastSector - p.firstSector + 1 }))).toEqual(
      partitions.map(({ start, size }) => ({ start, size })),
    );
    await rm(reference);
  });
});
