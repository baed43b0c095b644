/**
 * Full images with a boot loader, built by nixdisk from the stand-in system of
 * examples/nixos-standin (Debian's kernel, a busybox initrd whose /init prints a marker
 * and the kernel command line) and booted under qemu-system-x86_64 (TCG, serial console,
 * bounded): systemd-boot on efi and efixbootldr (with a specialisation and an extra
 * entry, whose files the default boot must not trip over) by OVMF; GRUB on hybrid (with a
 * theme and a password-protected menu) by SeaBIOS and by OVMF, on legacy (with a
 * specialisation) and legacy+gpt by SeaBIOS; raw and qcow2, and qcow2-compressed as the
 * twin of a raw case (the same disk to qemu-img compare, and it boots too). Each image is
 * built twice and must come out byte-identical. Boot times are printed for the report.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFromFile } from '../../src/build.js';
import { PACKAGE_ROOT } from '../../src/package.js';
import { asRaw, carve, sha256, toolEnv } from '../helpers/build-fixture.js';
import { sfdiskJson } from '../helpers/parted-oracle.js';
import { bootImage, type BootRequest } from '../helpers/qemu.js';

const STANDIN = path.join(PACKAGE_ROOT, 'examples', 'nixos-standin');
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const MARKER = 'NIXDISK-STANDIN-BOOTED';
const PARAMS = 'console=ttyS0 panic=-1 loglevel=4 nixdisk.standin=1';
const BOOT_TIMEOUT = 240;

let dir: string;
const bootTimes: string[] = [];
/** Each case's image, by case name, for the cases that are another's twin. */
const images = new Map<string, string>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-boot-'));
});

/** The stand-in's toplevel for these arguments: what the default entry's init= must name. */
async function standinToplevel(standin: string): Promise<string> {
  const { stdout } = await execa('nix-build', ['--no-out-link', '--option', 'substituters', '', '--expr', `(import ${STANDIN} ${standin}).toplevel`]);
  return stdout.trim();
}
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  if (bootTimes.length > 0) console.log(`boot times (qemu start → marker, TCG):\n${bootTimes.join('\n')}`);
});

interface Case {
  name: string;
  standin: string;
  args: string;
  format: 'raw' | 'qcow2' | 'qcow2-compressed';
  /** The name of an earlier raw case whose disk this image holds, in another format. */
  rawTwin?: string;
  boots: { firmware: 'bios' | 'uefi'; vars: 'template' | 'built'; loads?: RegExp }[];
  /** Files the loader put on the FAT partitions, by partition number. */
  fatFiles: [number, string][];
}

const CASES: Case[] = [
  {
    name: 'efi + systemd-boot, its NVRAM entry in efi-vars.fd',
    standin: '{ loader = "systemd-boot"; canTouchEfiVariables = true; }',
    args: `partitionTableType = "efi"; format = "raw"; touchEFIVars = true; efiVariables = "${OVMF_VARS}";`,
    format: 'raw',
    fatFiles: [[1, '/EFI/systemd/systemd-bootx64.efi'], [1, '/EFI/BOOT/BOOTX64.EFI'], [1, '/loader/loader.conf'], [1, '/loader/entries/nixos-generation-1.conf'], [1, '/loader/entries.srel']],
    boots: [{ firmware: 'uefi', vars: 'built', loads: /BdsDxe: starting Boot0000 "Linux Boot Manager" from HD\(1,GPT,1C06F03B-704E-4657-B9CD-681A087A2FDC,0x4000,0x[0-9A-F]+\)\/\\EFI\\systemd\\systemd-bootx64\.efi/ }],
  },
  {
    name: 'efixbootldr + systemd-boot, entries and kernels on XBOOTLDR, a specialisation and an extra entry beside the default',
    standin: '{ loader = "systemd-boot"; efiSysMountPoint = "/efi"; xbootldrMountPoint = "/boot"; specialisations = { debug = [ "debug" ]; }; systemdBootExtraEntries = { "z-extra.conf" = "title Extra\\nsort-key z\\nlinux /none\\n"; }; }',
    args: 'partitionTableType = "efixbootldr"; format = "qcow2"; bootSize = "128M";',
    format: 'qcow2',
    // loader.conf stays on the ESP; entries and kernels go to XBOOTLDR.
    fatFiles: [
      [1, '/EFI/systemd/systemd-bootx64.efi'],
      [1, '/loader/loader.conf'],
      [2, '/loader/entries/nixos-generation-1.conf'],
      [2, '/loader/entries/nixos-generation-1-specialisation-debug.conf'],
      [2, '/loader/entries/z-extra.conf'],
      [2, '/EFI/nixos/.extra-files/loader/entries/z-extra.conf'],
      [2, '/loader/entries.srel'],
    ],
    boots: [{ firmware: 'uefi', vars: 'template' }],
  },
  {
    name: 'hybrid + GRUB for BIOS and for UEFI (removable), a theme and a superuser (the default entry is unrestricted)',
    standin: '{ loader = "grub"; grubEfiSupport = true; grubTheme = true; grubUsers = { root.hashedPassword = "grub.pbkdf2.sha512.10000.AA.BB"; }; }',
    args: 'partitionTableType = "hybrid"; format = "qcow2";',
    format: 'qcow2',
    fatFiles: [[1, '/EFI/BOOT/BOOTX64.EFI'], [1, '/grub/grub.cfg'], [1, '/grub/i386-pc/normal.mod'], [1, '/grub/x86_64-efi/normal.mod'], [1, '/theme/theme.txt'], [1, '/theme/fonts/unicode.pf2']],
    boots: [
      { firmware: 'bios', vars: 'template' },
      { firmware: 'uefi', vars: 'template' },
    ],
  },
  {
    name: 'legacy + GRUB for BIOS, core image after the MBR, a specialisation entry after the default',
    standin: '{ loader = "grub"; specialisations = { debug = [ "debug" ]; }; }',
    args: 'partitionTableType = "legacy"; format = "raw";',
    format: 'raw',
    fatFiles: [],
    boots: [{ firmware: 'bios', vars: 'template' }],
  },
  {
    name: 'legacy + GRUB for BIOS, qcow2-compressed (nixdisk deflates the raw disk)',
    standin: '{ loader = "grub"; specialisations = { debug = [ "debug" ]; }; }',
    args: 'partitionTableType = "legacy"; format = "qcow2-compressed";',
    format: 'qcow2-compressed',
    rawTwin: 'legacy + GRUB for BIOS, core image after the MBR, a specialisation entry after the default',
    fatFiles: [],
    boots: [{ firmware: 'bios', vars: 'template' }],
  },
  {
    name: 'legacy+gpt + GRUB for BIOS, core image in the BIOS boot partition',
    standin: '{ loader = "grub"; }',
    args: 'partitionTableType = "legacy+gpt"; format = "qcow2";',
    format: 'qcow2',
    fatFiles: [],
    boots: [{ firmware: 'bios', vars: 'template' }],
  },
];

async function writeCall(caseDir: string, standin: string, args: string): Promise<string> {
  const file = path.join(caseDir, 'image.nix');
  await writeFile(
    file,
    `let standin = import ${STANDIN} ${standin}; in
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { };
  lib = { };
  inherit (standin) config;
  copyChannel = false;
  additionalSpace = "8M";
  ${args.includes('bootSize') ? args : `bootSize = "64M"; ${args}`}
}
`,
  );
  return file;
}

function build(file: string, outDir: string) {
  return buildFromFile({ file, args: [], argstrs: [], includes: [], outDir, compression: 'zlib', workRoot: dir, emit: () => {} });
}

describe.each(CASES)('$name', (c) => {
  let image: string;
  let outDir: string;
  let caseDir: string;
  let toplevel: string;

  beforeAll(async () => {
    toplevel = await standinToplevel(c.standin);
    caseDir = await mkdtemp(path.join(dir, 'case-'));
    const file = await writeCall(caseDir, c.standin, c.args);
    outDir = path.join(caseDir, 'out');
    image = (await build(file, outDir)).imagePath;
    images.set(c.name, image);
  });

  if (c.rawTwin) {
    it('holds the same disk as its raw twin, in compressed clusters', async () => {
      const twin = images.get(c.rawTwin!);
      expect(twin, `the raw case "${c.rawTwin}" runs first`).toBeDefined();
      const compare = await execa('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', twin!, image], { env: toolEnv, reject: false });
      expect(compare.exitCode, compare.stdout + compare.stderr).toBe(0);
      const check = JSON.parse((await execa('qemu-img', ['check', '--output=json', image], { env: toolEnv })).stdout);
      expect(check['compressed-clusters']).toBeGreaterThan(0);
    });
  }

  it('builds byte-identically twice', async () => {
    const again = path.join(caseDir, 'again');
    const second = await build(path.join(caseDir, 'image.nix'), again);
    expect(await sha256(second.imagePath)).toBe(await sha256(image));
    if (existsSync(path.join(outDir, 'efi-vars.fd'))) expect(await sha256(path.join(again, 'efi-vars.fd'))).toBe(await sha256(path.join(outDir, 'efi-vars.fd')));
    await rm(again, { recursive: true });
  });

  it('has every filesystem fsck-clean, the loader files on their partitions', async () => {
    const raw = await asRaw(image, c.format, caseDir);
    const table = await sfdiskJson(raw);
    for (const [i, p] of (table.partitions as { start: number; size: number; type: string }[]).entries()) {
      const number = i + 1;
      const file = await carve(raw, p.start * 512, p.size * 512, path.join(caseDir, `part-${number}`));
      const fat = ['C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'BC13C2FF-59E6-4262-A352-B275FD6F7172', 'c', 'ef'].includes(p.type);
      if (fat) await execa('fsck.vfat', ['-n', file], { env: toolEnv });
      else if (p.type !== '21686148-6449-6E6F-744E-656564454649') await execa('e2fsck', ['-fn', file], { env: toolEnv });
      for (const [, installed] of c.fatFiles.filter(([n]) => n === number)) {
        await execa('mtype', ['-i', file, `::${installed}`], { env: { ...toolEnv, MTOOLS_SKIP_CHECK: '1' } });
      }
      await rm(file);
    }
    if (raw !== image) await rm(raw);
  });

  it.each(c.boots)('boots by $firmware to the stand-in init, with init= and the toplevel parameters', async (boot) => {
    const request: BootRequest = {
      image,
      format: c.format === 'qcow2-compressed' ? 'qcow2' : c.format,
      firmware: boot.firmware,
      ovmfCode: OVMF_CODE,
      ovmfVars: boot.vars === 'built' ? path.join(outDir, 'efi-vars.fd') : OVMF_VARS,
      workDir: caseDir,
      marker: MARKER,
      timeoutSeconds: BOOT_TIMEOUT,
    };
    const run = await bootImage(request);
    const console = run.console.replace(/\r/g, '');
    expect(console, console.slice(-3000)).toContain(MARKER);
    const cmdline = /NIXDISK-STANDIN-CMDLINE: (.*)/.exec(console)?.[1] ?? '';
    expect(cmdline).toContain(`init=${toplevel}/init ${PARAMS}`);
    if (boot.loads) expect(console).toMatch(boot.loads);
    bootTimes.push(`  ${c.name}, ${c.format}, ${boot.firmware}: ${run.secondsToMarker?.toFixed(1)} s`);
  }, (BOOT_TIMEOUT + 60) * 1000);
});

describe('refused before anything is written', () => {
  it.each([
    ['a loader nixdisk cannot install', '{ loader = "limine"; }', 'partitionTableType = "efi";', /"limine".*cannot install/],
    ['a toplevel without boot.json', '{ loader = "systemd-boot"; withBootspec = false; }', 'partitionTableType = "efi";', /boot\.json.*installBootLoader = false/],
    ['systemd-boot on a layout without an ESP', '{ loader = "systemd-boot"; }', 'partitionTableType = "legacy";', /efiSysMountPoint = "\/boot", but this image has an ext4 filesystem there|no FAT partition/],
    ['BIOS GRUB on efi (no BIOS boot partition)', '{ loader = "grub"; }', 'partitionTableType = "efi";', /BIOS boot partition/],
  ])('%s', async (_, standin, args, message) => {
    const caseDir = await mkdtemp(path.join(dir, 'bad-'));
    const file = await writeCall(caseDir, standin, args);
    const outDir = path.join(caseDir, 'out');
    const before = await readdir(dir);
    await expect(build(file, outDir)).rejects.toThrow(message);
    expect(existsSync(outDir)).toBe(false);
    expect(await readdir(caseDir)).toEqual(['image.nix']);
    expect(await readdir(dir)).toEqual(before);
  });
});
