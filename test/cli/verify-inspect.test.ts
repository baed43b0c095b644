/**
 * `nixdisk verify` and `nixdisk inspect` through the CLI, on images built from the
 * fixture closure: a whole image verifies, one flipped byte in a store file is caught
 * and named, and inspect reports the partition table and filesystems that nixpkgs'
 * efi layout gives. Both leave TMPDIR as they found it.
 */
import { cp, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ROOT_GPUID } from '../../src/analysis/schema.js';
import { buildFromFile } from '../../src/build.js';
import { writeCall } from '../helpers/build-fixture.js';
import { caseFolder, expectNoStackTrace, nixdisk } from '../integration/fixtures/cli.js';

const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const LINUX_TYPE = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
/** make-disk-image's default rootFSUID, which the ext4 root takes. */
const DEFAULT_ROOT_FS_UUID = 'f222513b-ded1-49fa-b591-20ce86a2fe7f';
/** The last lines of the fixture's one-megabyte.txt (`seq 1 150000`): only nixdisk-fixture-data holds them. */
const DATA_TAIL = '149998\n149999\n150000\n';

let dir: string;
let cwd: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-cli-verify-'));
  cwd = await caseFolder(dir, 'cli');
  for (const [name, extra] of [
    ['efi', { partitionTableType: '"efi"' }],
    ['qcow2', { partitionTableType: '"legacy"', format: '"qcow2"' }],
  ] as const) {
    const file = await writeCall(dir, name, extra);
    await buildFromFile({ file, args: [], argstrs: [], includes: [], outDir: path.join(cwd, name), compression: 'zlib', workRoot: dir, emit: () => {} });
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Flips one byte inside DATA_TAIL's first occurrence in `image`; returns its offset. */
async function corruptDataFile(image: string): Promise<number> {
  const handle = await open(image, 'r+');
  try {
    const { size } = await handle.stat();
    const chunk = Buffer.alloc(16 * 1024 * 1024);
    const needle = Buffer.from(DATA_TAIL);
    for (let offset = 0; offset < size; offset += chunk.length - needle.length) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset);
      const at = chunk.subarray(0, bytesRead).indexOf(needle);
      if (at >= 0) {
        const target = offset + at + 2;
        await handle.write(Buffer.from('X'), 0, 1, target);
        return target;
      }
    }
    throw new Error(`${DATA_TAIL.trim()} not found in ${image}`);
  } finally {
    await handle.close();
  }
}

describe('nixdisk verify', () => {
  it.each(['efi', 'qcow2', 'efi/nixos.img'])('%s: every store path whole, exit 0', async (target) => {
    const run = await nixdisk(['verify', target], { cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/: ext4 "nix-store" at byte \d+, registrations from the host store\n/);
    expect(run.stdout).toMatch(/^ok: 4 store path\(s\) verified$/m);
    expect(await readdir(path.join(cwd, 'tmp'))).toEqual([]);
  });

  it('--json: the report with clean = true', async () => {
    const run = await nixdisk(['verify', '--json', 'efi'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ clean: true, registrationSource: 'host store', corrupted: [], unregistered: [], missing: [] });
    expect(report.filesystem).toMatchObject({ type: 'ext4', label: 'nix-store', offsetBytes: 526336 * 512 });
    expect(report.verified).toHaveLength(4);
    expect(report.verified.some((p: string) => p.endsWith('-nixdisk-fixture-data'))).toBe(true);
  });

  it('one flipped byte in a store file: exit 1, the corrupted path named, with both hashes', async () => {
    const copy = path.join(cwd, 'corrupt');
    await cp(path.join(cwd, 'efi'), copy, { recursive: true });
    const offset = await corruptDataFile(path.join(copy, 'nixos.img'));
    expect(offset).toBeGreaterThan(526336 * 512);

    const run = await nixdisk(['verify', 'corrupt'], { cwd });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^ {2}corrupted {4}\/nix\/store\/[0-9a-z]{32}-nixdisk-fixture-data\n {6}expected sha256:[0-9a-z]{52}\n {6}found {4}sha256:[0-9a-z]{52}$/m);
    expect(run.stdout).toMatch(/^FAILED: 3 store path\(s\) verified; 1 corrupted, 0 unregistered, 0 missing$/m);

    const json = await nixdisk(['verify', '--json', 'corrupt'], { cwd });
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.clean).toBe(false);
    expect(report.corrupted).toHaveLength(1);
    expect(report.corrupted[0].path).toMatch(/-nixdisk-fixture-data$/);
    expect(report.corrupted[0].expected).not.toBe(report.corrupted[0].actual);
    await rm(copy, { recursive: true });
  });
});

describe('nixdisk inspect', () => {
  it('--json: the efi layout of nixpkgs, ESP vfat and ext4 root with their labels and UUIDs', async () => {
    const run = await nixdisk(['inspect', '--json', 'efi'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const info = JSON.parse(run.stdout);
    expect(info).not.toHaveProperty('raw');
    expect(info.format).toBe('raw');
    expect(info.file).toBe(path.join('efi', 'nixos.img'));
    const totalSectors = info.virtualSizeBytes / 512;
    expect(info.table.kind).toBe('gpt');
    expect(info.table.id).toMatch(/^[0-9A-F-]{36}$/);
    const [esp, root] = info.table.partitions;
    expect(info.table.partitions).toHaveLength(2);
    expect(esp).toMatchObject({ number: 1, startBytes: 16384 * 512, sizeBytes: (526335 - 16384 + 1) * 512, type: ESP_TYPE, name: 'ESP', bootable: false });
    expect(root).toMatchObject({ number: 2, startBytes: 526336 * 512, type: LINUX_TYPE, name: 'primary', uuid: DEFAULT_ROOT_GPUID.toUpperCase() });
    // The root partition ends before the backup GPT (33 sectors at the end of the disk).
    expect(root.startBytes + root.sizeBytes).toBeLessThanOrEqual((totalSectors - 33) * 512);

    expect(info.filesystems).toEqual([
      { partition: 1, offsetBytes: esp.startBytes, sizeBytes: esp.sizeBytes, type: 'vfat', label: 'ESP', uuid: expect.stringMatching(/^[0-9A-F]{4}-[0-9A-F]{4}$/) },
      { partition: 2, offsetBytes: root.startBytes, sizeBytes: root.sizeBytes, type: 'ext4', label: 'nix-store', uuid: DEFAULT_ROOT_FS_UUID },
    ]);
  });

  it('human output: the table line, one line per partition, one per filesystem', async () => {
    const run = await nixdisk(['inspect', 'efi'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^efi\/nixos\.img: raw, \d+ MiB, gpt partition table \(id [0-9A-F-]{36}\)$/);
    expect(lines[1]).toMatch(new RegExp(`^ {2}1: +16384–526335 +249 MiB {2}type ${ESP_TYPE} {2}"ESP" {2}[0-9A-F-]{36}$`));
    expect(lines[2]).toMatch(new RegExp(`^ {2}2: +526336–\\d+ +[\\d.]+ MiB {2}type ${LINUX_TYPE} {2}"primary" {2}${DEFAULT_ROOT_GPUID.toUpperCase()}$`));
    expect(lines[3]).toMatch(/^ {2}partition 1: vfat label "ESP" uuid [0-9A-F]{4}-[0-9A-F]{4}$/);
    expect(lines[4]).toBe(`  partition 2: ext4 label "nix-store" uuid ${DEFAULT_ROOT_FS_UUID}`);
  });

  it('a qcow2 image: read through a raw conversion that does not outlive the command', async () => {
    const run = await nixdisk(['inspect', '--json', 'qcow2'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const info = JSON.parse(run.stdout);
    expect(info.format).toBe('qcow2');
    expect(info.table.kind).toBe('dos');
    expect(info.table.partitions).toEqual([expect.objectContaining({ number: 1, startBytes: 2048 * 512, type: '83' })]);
    expect(info.filesystems).toEqual([expect.objectContaining({ partition: 1, type: 'ext4', label: 'nix-store' })]);
    expect(await readdir(path.join(cwd, 'tmp'))).toEqual([]);
  });
});

describe('bad targets: a plain message, exit 1, no stack trace', () => {
  beforeAll(async () => {
    await writeFile(path.join(cwd, 'note.txt'), 'not an image\n');
    await cp(path.join(cwd, 'efi', 'nix-support'), path.join(cwd, 'no-image', 'nix-support'), { recursive: true });
    await writeFile(path.join(cwd, 'no-image', 'nix-support', 'hydra-build-products'), 'doc none /nowhere\n');
    await writeFile(path.join(cwd, 'zeros.img'), Buffer.alloc(1024 * 1024));
  });

  it.each([
    ['absent', /absent: no such file or folder/],
    ['note.txt', /note\.txt is not a disk image \(13 bytes, less than one sector\)/],
    ['tmp', /tmp is a folder without nix-support\/hydra-build-products: name the image file instead/],
    ['no-image', /no-image\/nix-support\/hydra-build-products names no image/],
  ])('%s', async (target, message) => {
    for (const command of ['verify', 'inspect']) {
      const run = await nixdisk([command, target], { cwd });
      expect(run.code, `${command} ${target}`).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^nixdisk: ${command} failed: `));
      expect(run.stderr).toMatch(message);
      expectNoStackTrace(run.stderr);
    }
  });

  it('an image without filesystems: inspect says so, verify finds no root filesystem', async () => {
    const inspect = await nixdisk(['inspect', 'zeros.img'], { cwd });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toBe('zeros.img: raw, 1 MiB, no partition table\n');
    const verify = await nixdisk(['verify', 'zeros.img'], { cwd });
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/zeros\.img: no root filesystem found \(found: nothing\)/);
  });
});
