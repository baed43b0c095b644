/**
 * Making a full image's ESP: nixdisk's createBootFat (mkfs.vfat, then nixdisk's own FAT
 * writer) against what it did before, mkfs.vfat then `mmd` and one `mcopy` per
 * directory (7 tool start-ups for systemd-boot), side by side in one run, alternating
 * which goes first. The tree is what installSystemdBoot puts on the ESP: the loader and
 * its fallback copy, the host's kernel and initrd (Debian's, ~40 MB together) as
 * EFI/nixos files, loader.conf, one entry, entries.srel and the empty EFI/Linux; the ESP
 * is the default efi layout's (FAT16, 249 MiB).
 *
 * Run after `bash scripts/setup.sh`: node dist/bench/esp.js [--runs 9]
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createSparseFile } from '../src/image/fs/common.js';
import { scanTree } from '../src/image/fs/tree.js';
import { createBootFat, mkfsVfatArgs, type BootFatBuild } from '../src/image/fs/vfat.js';
import { runTool } from '../src/tools.js';

const ESP_BYTES = (526336 - 16384) * 512;
const SYSTEMD_BOOT = '/usr/lib/systemd/boot/efi/systemd-bootx64.efi';

async function hostFile(prefix: string): Promise<string> {
  const name = (await readdir('/boot')).find((entry) => entry.startsWith(prefix));
  if (!name) throw new Error(`no /boot/${prefix}* on this machine (install linux-image-amd64)`);
  return path.join('/boot', name);
}

async function writeEspTree(dir: string): Promise<void> {
  const put = async (relative: string, from: string | { text: string }) => {
    await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    if (typeof from === 'string') await copyFile(from, path.join(dir, relative));
    else await writeFile(path.join(dir, relative), from.text);
  };
  await put('EFI/systemd/systemd-bootx64.efi', SYSTEMD_BOOT);
  await put('EFI/BOOT/BOOTX64.EFI', SYSTEMD_BOOT);
  await mkdir(path.join(dir, 'EFI/Linux'), { recursive: true });
  await put('EFI/nixos/0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d-linux-6.1-bzImage.efi', await hostFile('vmlinuz-'));
  await put('EFI/nixos/5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a-initrd-linux-6.1-initrd.efi', await hostFile('initrd.img-'));
  await put('loader/entries.srel', { text: 'type1\n' });
  await put('loader/entries/nixos-generation-1.conf', { text: 'title NixOS\nversion Generation 1\nlinux /EFI/nixos/0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d-linux-6.1-bzImage.efi\n' });
  await put('loader/loader.conf', { text: 'timeout 5\ndefault nixos-generation-1.conf\n' });
}

/** The ESP as nixdisk made it before its own FAT writer: mkfs.vfat, mmd for every directory, one mcopy per directory with files. */
async function espByMtools(build: BootFatBuild): Promise<void> {
  const env = { LC_ALL: 'C.UTF-8', TZ: 'UTC', MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: String(Math.max(build.epoch, 315532800)) };
  const entries = await scanTree(build.sourceDir!);
  await createSparseFile(build.output, build.sizeBytes);
  await runTool('mkfs.vfat', mkfsVfatArgs({ ...build, uuid: build.volumeId, hiddenSectors: build.partitionStartSector }));
  await runTool('mmd', ['-i', build.output, ...entries.filter((entry) => entry.kind === 'directory').map((entry) => `::/${entry.path}`)], { env, input: '', debianPackage: 'mtools' });
  const filesByDirectory = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.kind !== 'file') continue;
    const parent = path.posix.dirname(entry.path);
    filesByDirectory.set(parent, [...(filesByDirectory.get(parent) ?? []), entry.source]);
  }
  for (const [parent, files] of filesByDirectory) {
    await runTool('mcopy', ['-i', build.output, '-p', '-Q', ...files, parent === '.' ? '::/' : `::/${parent}/`], { env, input: '' });
  }
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' } } });
const runs = Number(values.runs);
const work = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-bench-esp-'));
try {
  const source = path.join(work, 'esp-tree');
  await writeEspTree(source);
  const build = (output: string): BootFatBuild => ({
    output: path.join(work, output),
    sizeBytes: ESP_BYTES,
    label: 'ESP',
    volumeId: null,
    deterministic: true,
    epoch: 1,
    sourceDir: source,
    partitionStartSector: 16384,
  });
  const ways = { nixdisk: (output: string) => createBootFat(build(output)), mtools: (output: string) => espByMtools(build(output)) };
  const seconds: Record<keyof typeof ways, number[]> = { nixdisk: [], mtools: [] };
  // One untimed round first, so both read the tree from the page cache.
  for (let run = -1; run < runs; run++) {
    const order = run % 2 === 0 ? (['nixdisk', 'mtools'] as const) : (['mtools', 'nixdisk'] as const);
    for (const way of order) {
      const started = performance.now();
      await ways[way](`${way}.img`);
      if (run >= 0) seconds[way].push((performance.now() - started) / 1000);
      await rm(path.join(work, `${way}.img`));
    }
  }
  const [nixdisk, mtools] = [median(seconds.nixdisk), median(seconds.mtools)];
  const load = os.loadavg().map((value) => value.toFixed(2)).join(', ');
  console.log(`ESP of ${(ESP_BYTES / 2 ** 20).toFixed(0)} MiB (systemd-boot, host kernel + initrd), median of ${runs}, load average ${load}:`);
  console.log(`  mkfs.vfat + mmd + mcopy per directory  ${mtools.toFixed(3)} s`);
  console.log(`  createBootFat (nixdisk's FAT writer)   ${nixdisk.toFixed(3)} s`);
  console.log(`  ratio nixdisk / mtools                 ${(nixdisk / mtools).toFixed(2)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
