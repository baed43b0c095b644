/**
 * Every layout × every format, built from a real multi-path closure with real Nix, then
 * judged by the real tools: parted's table for the same disk size, sgdisk -v, e2fsck,
 * qemu-img check, nixdisk verify (NAR hashes), postVM, and byte-identical rebuilds.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFromFile } from '../../src/build.js';
import { PARTITION_TABLE_TYPES, type PartitionTableType } from '../../src/options.js';
import { bootEndMiB } from '../../src/image/plan.js';
import { DEFAULT_ROOT_GPUID } from '../../src/analysis/schema.js';
import { verifyImage, reportIsClean } from '../../src/verify.js';
import { partedReference, sfdiskJson } from '../helpers/parted-oracle.js';
import { asRaw, carve, nixString, sha256, toolEnv, writeCall } from '../helpers/build-fixture.js';

const FORMATS = ['raw', 'qcow2', 'qcow2-compressed', 'vdi', 'vpc'] as const;
const EXTENSION: Record<(typeof FORMATS)[number], string> = { raw: 'img', qcow2: 'qcow2', 'qcow2-compressed': 'qcow2', vdi: 'vdi', vpc: 'vhd' };
const POSTVM = 'echo "$diskImage" > $out/postvm-ran';
const FIXTURE_PATHS = 4;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-matrix-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function build(file: string, outDir: string, workRoot = dir) {
  return buildFromFile({ file, args: [], argstrs: [], includes: [], outDir, compression: 'zlib', workRoot, emit: () => {} });
}

/** Judges one built image with the real tools; returns its sha256. */
async function judge(outDir: string, layout: PartitionTableType, format: (typeof FORMATS)[number], caseDir: string) {
  const image = path.join(outDir, `nixos.${EXTENSION[format]}`);
  const products = await readFile(path.join(outDir, 'nix-support', 'hydra-build-products'), 'utf8');
  expect(products).toBe(`file ${format === 'qcow2-compressed' ? 'qcow2' : format}-image ${image}\n`);
  expect((await readFile(path.join(outDir, 'postvm-ran'), 'utf8')).trim()).toMatch(new RegExp(`/nixos\\.${EXTENSION[format]}$`));

  if (format === 'qcow2' || format === 'qcow2-compressed' || format === 'vdi') {
    const { stdout } = await execa('qemu-img', ['check', image], { env: toolEnv });
    expect(stdout).toMatch(/No errors were found on the image/);
  }
  const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', image], { env: toolEnv })).stdout);
  expect(info.format).toBe(format === 'qcow2-compressed' ? 'qcow2' : format);
  const raw = await asRaw(image, format, caseDir);
  const totalSectors = info['virtual-size'] / 512;

  let rootOffset = 0;
  let rootSize = info['virtual-size'];
  if (layout !== 'none') {
    const ours = await sfdiskJson(raw);
    const reference = await partedReference(path.join(caseDir, 'parted.img'), layout, totalSectors, bootEndMiB('256M'), DEFAULT_ROOT_GPUID);
    if (ours.label === 'dos') {
      // parted's MBR disk signature is random on every run; nixdisk pins it.
      expect({ ...ours, id: undefined }).toEqual({ ...reference, id: undefined });
    } else {
      expect(ours).toEqual(reference);
      const { stdout } = await execa('sgdisk', ['-v', raw], { env: toolEnv });
      expect(stdout).toMatch(/No problems found/);
    }
    const root = ours.partitions.find((p) => p.type === '83' || p.type === '0FC63DAF-8483-4772-8E79-3D69D8477DE4') as { start: number; size: number };
    rootOffset = root.start * 512;
    rootSize = root.size * 512;
  }
  const rootFs = await carve(raw, rootOffset, rootSize, path.join(caseDir, 'root.fs'));
  await execa('e2fsck', ['-f', '-n', rootFs], { env: toolEnv });

  const report = await verifyImage(outDir, caseDir);
  expect(report.verified).toHaveLength(FIXTURE_PATHS);
  expect(reportIsClean(report)).toBe(true);
  return sha256(image);
}

describe.each(PARTITION_TABLE_TYPES.map((layout) => [layout]))('layout %s', (layout) => {
  it.each(FORMATS.map((format) => [format]))('%s: valid, verified, postVM ran, byte-identical rebuild', async (format) => {
    const caseDir = await mkdtemp(path.join(dir, `${layout.replace('+', '-')}-${format}-`));
    const file = await writeCall(caseDir, 'image', {
      partitionTableType: nixString(layout),
      format: nixString(format),
      postVM: nixString(POSTVM),
    });
    const first = await build(file, path.join(caseDir, 'out-a'));
    const firstHash = await judge(first.outDir, layout, format, caseDir);
    // Another folder, another moment: the same bytes.
    const second = await build(file, path.join(caseDir, 'elsewhere', 'out-b'));
    expect(await sha256(second.imagePath)).toBe(firstHash);
    expect((await readdir(dir)).filter((name) => name.startsWith('nixdisk-build-'))).toEqual([]);
    await rm(caseDir, { recursive: true, force: true });
  });
});

describe('a work folder on another filesystem than the output (tmpfs: no rename, no FIEMAP)', () => {
  let shm: string;
  beforeAll(async () => {
    shm = await mkdtemp('/dev/shm/nixdisk-matrix-');
  });
  afterAll(() => rm(shm, { recursive: true, force: true }));

  it.each([
    ['none', 'raw'],
    ['efi', 'qcow2'],
  ] as const)('%s, %s: the same bytes as built beside the output', async (layout, format) => {
    const caseDir = await mkdtemp(path.join(dir, `elsewhere-${layout}-${format}-`));
    const file = await writeCall(caseDir, 'image', { partitionTableType: nixString(layout), format: nixString(format), postVM: nixString(POSTVM) });
    const beside = await build(file, path.join(caseDir, 'out-beside'));
    const apart = await build(file, path.join(caseDir, 'out-apart'), shm);
    expect(await judge(apart.outDir, layout, format, caseDir)).toBe(await sha256(beside.imagePath));
    expect(await readdir(shm)).toEqual([]);
    await rm(caseDir, { recursive: true, force: true });
  });
});

describe('sizes', () => {
  it('a fixed diskSize gives exactly that disk, root filling its partition', async () => {
    const caseDir = await mkdtemp(path.join(dir, 'fixed-'));
    const file = await writeCall(caseDir, 'fixed', { partitionTableType: '"efi"', diskSize: '300', format: '"qcow2"', postVM: nixString(POSTVM) });
    const built = await build(file, path.join(caseDir, 'out'));
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', built.imagePath], { env: toolEnv })).stdout);
    expect(info['virtual-size']).toBe(300 * 1024 * 1024);
    await judge(built.outDir, 'efi', 'qcow2', caseDir);
    const again = await build(file, path.join(caseDir, 'out-again'));
    expect(await sha256(again.imagePath)).toBe(await sha256(built.imagePath));
  });

  it('"auto" with additionalSpace leaves that much free in the root filesystem, and less than a MiB beyond', async () => {
    const caseDir = await mkdtemp(path.join(dir, 'auto-'));
    const file = await writeCall(caseDir, 'auto', { partitionTableType: '"legacy"', diskSize: '"auto"', additionalSpace: '"64M"', format: '"raw"', postVM: nixString(POSTVM) });
    const built = await build(file, path.join(caseDir, 'out'));
    const withSpace = await judge(built.outDir, 'legacy', 'raw', caseDir);
    const root = (await sfdiskJson(built.imagePath)).partitions[0] as { start: number; size: number };
    const rootFs = await carve(built.imagePath, root.start * 512, root.size * 512, path.join(caseDir, 'auto-root.fs'));
    const header = (await execa('dumpe2fs', ['-h', rootFs], { env: toolEnv })).stdout;
    const freeBlocks = Number(/^Free blocks:\s+(\d+)/m.exec(header)![1]);
    // At least what was asked, and less than a MiB more: the disk is rounded to whole MiB only.
    expect(freeBlocks * 4096).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(freeBlocks * 4096).toBeLessThan(65 * 1024 * 1024);
    const again = await build(file, path.join(caseDir, 'out-again'));
    expect(await sha256(again.imagePath)).toBe(withSpace);
  });
});
