/**
 * installBootLoader on the stand-in system (examples/nixos-standin), without building an
 * image: which files land where, what goes outside the filesystems, which NVRAM entry.
 */
import { mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootTarget, ImageMount } from '../../../src/image/boot/bootloader.js';
import { checkBootLoader, installBootLoader } from '../../../src/image/boot/index.js';
import { PACKAGE_ROOT } from '../../../src/package.js';

const STANDIN = path.join(PACKAGE_ROOT, 'examples', 'nixos-standin');
const ROOT: ImageMount = { mountPoint: '/', role: 'root', fsType: 'ext4', uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f', label: 'nixos' };
const fat = (mountPoint: string, role: ImageMount['role'], uuid: string, label: string): ImageMount => ({ mountPoint, role, fsType: 'vfat', uuid, label });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-install-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The stand-in's config as serialize-args.nix gives it, its store paths realised. */
async function standin(args: string): Promise<{ config: Record<string, unknown>; toplevel: string }> {
  const expr = `let s = import ${STANDIN} ${args}; in (import ${PACKAGE_ROOT}/nixlib/serialize-args.nix { config = s.config; }).arguments.config`;
  const { stdout } = await execa('nix-instantiate', ['--eval', '--strict', '--json', '--read-write-mode', '--option', 'substituters', '', '--expr', expr]);
  const config = JSON.parse(stdout) as Record<string, { $drv?: string } | unknown>;
  const drvs = Object.values(config).flatMap((v) => (typeof v === 'object' && v !== null && '$drv' in v ? [(v as { $drv: string }).$drv] : []));
  await execa('nix-store', ['--realise', '--option', 'substituters', '', ...drvs]);
  return { config, toplevel: (config['toplevel'] as { $out: string }).$out };
}

async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name))).sort();
}

function target(system: { config: Record<string, unknown>; toplevel: string }, mounts: ImageMount[], table: BootTarget['table'], workDir: string): BootTarget {
  return { partitionTableType: 'efi', mounts, table, toplevel: system.toplevel, config: system.config, deterministic: true, epoch: 1, workDir };
}

describe('installBootLoader', () => {
  it('systemd-boot with XBOOTLDR: loader and loader.conf on the ESP, entry and kernels on BOOT, the NVRAM entry', async () => {
    const system = await standin('{ loader = "systemd-boot"; efiSysMountPoint = "/efi"; xbootldrMountPoint = "/boot"; canTouchEfiVariables = true; }');
    const workDir = await mkdtemp(path.join(dir, 'sd-'));
    const mounts = [ROOT, fat('/efi', 'esp', 'AAAA-0001', 'ESP'), fat('/boot', 'xbootldr', 'AAAA-0002', 'BOOT')];
    const result = await installBootLoader(target(system, mounts, { kind: 'gpt', partitions: [] }, workDir));
    const all = await files(result.treeDir);
    expect(all.filter((f) => !f.startsWith('boot/EFI/nixos/'))).toEqual([
      'boot/loader/entries.srel',
      'boot/loader/entries/nixos-generation-1.conf',
      'efi/EFI/BOOT/BOOTX64.EFI',
      'efi/EFI/systemd/systemd-bootx64.efi',
      'efi/loader/loader.conf',
    ]);
    expect(all.filter((f) => f.startsWith('boot/EFI/nixos/'))).toHaveLength(2);
    const entry = await readFile(path.join(result.treeDir, 'boot/loader/entries/nixos-generation-1.conf'), 'utf8');
    expect(entry).toMatch(/^title NixOS\nsort-key nixos\nversion Generation 1 NixOS Stand-in 0\.1 \(Linux .*\)\nlinux \/EFI\/nixos\/.*-linux-.*-bzImage\.efi\ninitrd \/EFI\/nixos\/.*-initrd-standin-initrd\.efi\n/);
    expect(entry).toContain(`options init=${system.toplevel}/init console=ttyS0 panic=-1 loglevel=4 nixdisk.standin=1\n`);
    expect(await readFile(path.join(result.treeDir, 'efi/loader/loader.conf'), 'utf8')).toBe('timeout 1\ndefault nixos-generation-1.conf\neditor 0\nconsole-mode keep\n');
    expect(result.diskWrites).toEqual([]);
    expect(result.efiBootEntries).toEqual([{ description: 'Linux Boot Manager', espMountPoint: '/efi', loaderPath: '\\EFI\\systemd\\systemd-bootx64.efi' }]);
  });

  it('GRUB for BIOS on legacy+gpt: grub.cfg and modules under /boot/grub on the root, boot code and core image outside', async () => {
    const system = await standin('{ loader = "grub"; }');
    const workDir = await mkdtemp(path.join(dir, 'grub-'));
    const table: BootTarget['table'] = { kind: 'gpt', partitions: [{ number: 1, role: 'bios-boot', name: 'no-fs', bootable: false, firstSector: 2048, lastSector: 4095 }] };
    const result = await installBootLoader(target(system, [ROOT], table, workDir));
    const all = await files(result.treeDir);
    expect(all).toContain('boot/grub/grub.cfg');
    expect(all).toContain('boot/grub/grubenv');
    expect(all).toContain('boot/grub/i386-pc/normal.mod');
    expect(all.some((f) => f.startsWith('boot/kernels'))).toBe(false);
    const cfg = await readFile(path.join(result.treeDir, 'boot/grub/grub.cfg'), 'utf8');
    expect(cfg).toContain(`search --set=drive1 --fs-uuid ${ROOT.uuid}`);
    expect(cfg).toContain(`init=${system.toplevel}/init console=ttyS0`);
    expect(result.diskWrites.map((w) => [w.offsetBytes, w.bytes.length <= 2048 * 512])).toEqual([
      [0, true],
      [2048 * 512, true],
    ]);
    expect(result.diskWrites[0]!.bytes.length).toBe(440);
    expect(result.efiBootEntries).toEqual([]);
  });

  it('GRUB for EFI only with canTouchEfiVariables: EFI/NixOS-boot/grubx64.efi and its NVRAM entry, kernels copied to the ESP', async () => {
    const system = await standin('{ loader = "grub"; grubDevices = [ "nodev" ]; grubEfiSupport = true; canTouchEfiVariables = true; }');
    const workDir = await mkdtemp(path.join(dir, 'grub-efi-'));
    const result = await installBootLoader(target(system, [ROOT, fat('/boot', 'esp', 'AAAA-0003', 'ESP')], { kind: 'gpt', partitions: [] }, workDir));
    const all = await files(result.treeDir);
    expect(all).toContain('boot/EFI/NixOS-boot/grubx64.efi');
    expect(all).not.toContain('boot/EFI/BOOT/BOOTX64.EFI');
    expect(all.filter((f) => f.startsWith('boot/kernels/'))).toHaveLength(2);
    expect(all.some((f) => f.startsWith('boot/grub/i386-pc/'))).toBe(false);
    expect(await readFile(path.join(result.treeDir, 'boot/grub/state'), 'utf8')).toBe('grub-2.06\n2.06\nonly\nnodev\n/boot\n{"extraGrubInstallArgs":[]}\n');
    expect(result.diskWrites).toEqual([]);
    expect(result.efiBootEntries).toEqual([{ description: 'NixOS-boot', espMountPoint: '/boot', loaderPath: '\\EFI\\NixOS-boot\\grubx64.efi' }]);
  });

  it('systemd-boot: an entry per specialisation, extraFiles and extraEntries on $BOOT, each remembered under .extra-files', async () => {
    const extraFile = path.join(dir, 'tool.efi');
    await writeFile(extraFile, 'an EFI tool\n');
    const system = await standin(
      `{ loader = "systemd-boot"; specialisations = { debug = [ "debug" ]; quiet = [ "quiet" ]; }; systemdBootExtraFiles = { "efi/tool/tool.efi" = ${extraFile}; }; systemdBootExtraEntries = { "tool.conf" = "title Tool\\nefi /efi/tool/tool.efi\\n"; }; }`,
    );
    const workDir = await mkdtemp(path.join(dir, 'sd-special-'));
    const result = await installBootLoader(target(system, [ROOT, fat('/boot', 'esp', 'AAAA-0004', 'ESP')], { kind: 'gpt', partitions: [] }, workDir));
    const all = await files(result.treeDir);
    expect(all.filter((f) => f.startsWith('boot/loader/entries/'))).toEqual([
      'boot/loader/entries/nixos-generation-1-specialisation-debug.conf',
      'boot/loader/entries/nixos-generation-1-specialisation-quiet.conf',
      'boot/loader/entries/nixos-generation-1.conf',
      'boot/loader/entries/tool.conf',
    ]);
    expect(all.filter((f) => f.includes('.extra-files'))).toEqual(['boot/EFI/nixos/.extra-files/efi/tool/tool.efi', 'boot/EFI/nixos/.extra-files/loader/entries/tool.conf']);
    expect(await readFile(path.join(result.treeDir, 'boot/efi/tool/tool.efi'), 'utf8')).toBe('an EFI tool\n');
    expect(await readFile(path.join(result.treeDir, 'boot/loader/entries/tool.conf'), 'utf8')).toBe('title Tool\nefi /efi/tool/tool.efi\n');
    const debugToplevel = await realpath(path.join(system.toplevel, 'specialisation', 'debug'));
    const debug = await readFile(path.join(result.treeDir, 'boot/loader/entries/nixos-generation-1-specialisation-debug.conf'), 'utf8');
    expect(debug).toMatch(/^title NixOS \(debug\)\nsort-key nixos\nversion Generation 1 NixOS Stand-in 0\.1 \(Linux .*\)\nlinux \/EFI\/nixos\/.*-bzImage\.efi\ninitrd \/EFI\/nixos\/.*-initrd\.efi\n/);
    expect(debug).toContain(`options init=${debugToplevel}/init console=ttyS0 panic=-1 loglevel=4 nixdisk.standin=1 debug\n`);
    // The specialisations share kernel and initrd: one copy of each.
    expect(all.filter((f) => f.startsWith('boot/EFI/nixos/') && !f.includes('.extra-files'))).toHaveLength(2);
    expect(await readFile(path.join(result.treeDir, 'boot/loader/loader.conf'), 'utf8')).toContain('default nixos-generation-1.conf\n');
  });

  it('GRUB: a menu entry per specialisation beside the default one', async () => {
    const system = await standin('{ loader = "grub"; specialisations = { debug = [ "debug" ]; }; }');
    const workDir = await mkdtemp(path.join(dir, 'grub-special-'));
    const table: BootTarget['table'] = { kind: 'mbr', partitions: [{ number: 1, role: 'root', name: 'primary', bootable: false, firstSector: 2048, lastSector: 99999 }] };
    const result = await installBootLoader(target(system, [ROOT], table, workDir));
    const cfg = await readFile(path.join(result.treeDir, 'boot/grub/grub.cfg'), 'utf8');
    const debugToplevel = await realpath(path.join(system.toplevel, 'specialisation', 'debug'));
    expect(cfg).toContain('menuentry "NixOS - (debug - 1970-01-01 - 0.1-standin)"  {\n');
    const entry = cfg.slice(cfg.indexOf('menuentry "NixOS - (debug'));
    expect(entry).toContain(`init=${debugToplevel}/init console=ttyS0 panic=-1 loglevel=4 nixdisk.standin=1 debug\n`);
  });

  it('GRUB with a theme and a superuser: the theme folder copied to /boot/theme, its fonts loaded, the password first', async () => {
    const system = await standin('{ loader = "grub"; grubTheme = true; grubUsers = { root.hashedPassword = "grub.pbkdf2.sha512.10000.AA.BB"; }; }');
    const workDir = await mkdtemp(path.join(dir, 'grub-theme-'));
    const table: BootTarget['table'] = { kind: 'mbr', partitions: [{ number: 1, role: 'root', name: 'primary', bootable: false, firstSector: 2048, lastSector: 99999 }] };
    const result = await installBootLoader(target(system, [ROOT], table, workDir));
    const all = await files(result.treeDir);
    expect(all.filter((f) => f.startsWith('boot/theme/'))).toEqual(['boot/theme/fonts/unicode.pf2', 'boot/theme/theme.txt']);
    expect(await readFile(path.join(result.treeDir, 'boot/theme/fonts/unicode.pf2'))).toEqual(await readFile('/usr/share/grub/unicode.pf2'));
    const cfg = await readFile(path.join(result.treeDir, 'boot/grub/grub.cfg'), 'utf8');
    expect(cfg).toContain('\npassword_pbkdf2 root grub.pbkdf2.sha512.10000.AA.BB\nset superusers="root"\n');
    expect(cfg).toContain(`set theme=($drive1)/boot/theme/theme.txt`);
    expect(cfg).toContain(`loadfont ($drive1)/boot/theme/fonts/unicode.pf2`);
  });

  it.each([
    ['extraInstallCommands', '{ loader = "systemd-boot"; systemdBootExtraInstallCommands = "echo hi"; }', /extraInstallCommands is a shell script.*nixdisk does not run it/],
    ['an extraFiles path leaving $BOOT', `{ loader = "systemd-boot"; systemdBootExtraFiles = { "../x.efi" = /bin/sh; }; }`, /extraFiles\."\.\.\/x\.efi" must be a relative path inside the partition/],
  ])('refuses systemd-boot %s', async (_, args, message) => {
    const system = await standin(args);
    await expect(installBootLoader(target(system, [ROOT, fat('/boot', 'esp', 'AAAA-0005', 'ESP')], { kind: 'gpt', partitions: [] }, await mkdtemp(path.join(dir, 'x-'))))).rejects.toThrow(message);
  });

  it('refuses a system with initrd secrets, before anything is written', async () => {
    const system = await standin('{ loader = "systemd-boot"; }');
    const toplevel = await mkdtemp(path.join(dir, 'secrets-'));
    const bootJson = JSON.parse(await readFile(path.join(system.toplevel, 'boot.json'), 'utf8'));
    bootJson['org.nixos.bootspec.v1'].initrdSecrets = `${toplevel}/append-initrd-secrets`;
    await writeFile(path.join(toplevel, 'boot.json'), JSON.stringify(bootJson));
    await expect(checkBootLoader(system.config, toplevel)).rejects.toThrow(/has boot\.initrd\.secrets/);
  });

  it('refuses a loader it cannot install, naming it', async () => {
    const system = await standin('{ loader = "generic-extlinux-compatible"; }');
    await expect(installBootLoader(target(system, [ROOT], { kind: 'mbr', partitions: [] }, await mkdtemp(path.join(dir, 'x-'))))).rejects.toThrow(/"generic-extlinux-compatible"/);
  });
});
