import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OTHER_QEMU_IMG_FORMATS } from '../../src/analysis/rules/values.js';
import { KNOWN_FORMATS, qemuFormat } from '../../src/options.js';
import { analyzeFile } from '../../src/analysis/analyze.js';
import { RULES } from '../../src/analysis/rules/index.js';
import type { Diagnostic } from '../../src/analysis/diagnostic.js';

/** A realistic call with the usual function arguments and `extra` bindings inside the attrset. */
function call(extra: string): string {
  return `{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> {\n  inherit pkgs lib config;\n  ${extra}\n}\n`;
}

/** The same call, without the usual `inherit`; `extra` says which of pkgs, lib, config it passes. */
function callWithout(extra: string): string {
  return `{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> {\n  ${extra}\n}\n`;
}

function diagnosticsOf(extra: string): Diagnostic[] {
  const text = extra.startsWith('# no inherit\n') ? callWithout(extra) : call(extra);
  return analyzeFile('/virtual/image.nix', text).diagnostics;
}

function codes(extra: string): string[] {
  return diagnosticsOf(extra).map((d) => d.code);
}

/** Every rule with an input that must trigger it and a close input that must not. */
const CASES: { code: string; fails: string; passes: string; severity: Diagnostic['severity'] }[] = [
  { code: 'invalid-partition-table-type', fails: 'partitionTableType = "uefi";', passes: 'partitionTableType = "efi";', severity: 'error' },
  { code: 'deterministic-ext4-needs-rootfsuid', fails: 'rootFSUID = null;', passes: 'rootFSUID = null; deterministic = false;', severity: 'error' },
  { code: 'efivars-need-gpt', fails: 'touchEFIVars = true; partitionTableType = "legacy";', passes: 'touchEFIVars = true; partitionTableType = "efi";', severity: 'error' },
  { code: 'only-nix-store-conflict', fails: 'onlyNixStore = true;', passes: 'onlyNixStore = true; installBootLoader = false;', severity: 'error' },
  { code: 'contents-user-group', fails: 'contents = [ { source = ./a; target = "/a"; user = "root"; } ];', passes: 'contents = [ { source = ./a; target = "/a"; user = "root"; group = "root"; } ];', severity: 'error' },
  { code: 'missing-argument', fails: '# no inherit\ninherit pkgs lib;', passes: '# no inherit\ninherit pkgs lib config;', severity: 'error' },
  { code: 'unknown-argument', fails: 'diskSise = 1024;', passes: 'diskSize = 1024;', severity: 'error' },
  { code: 'wrong-type', fails: 'installBootLoader = "yes";', passes: 'installBootLoader = false;', severity: 'error' },
  { code: 'invalid-size', fails: 'additionalSpace = "1024MB";', passes: 'additionalSpace = "1024M";', severity: 'error' },
  { code: 'size-without-unit', fails: 'additionalSpace = "512";', passes: 'additionalSpace = "0";', severity: 'warning' },
  { code: 'invalid-disk-size', fails: 'diskSize = "4G";', passes: 'diskSize = "4096";', severity: 'error' },
  { code: 'unknown-format', fails: 'format = "qcow3";', passes: 'format = "qcow2-compressed";', severity: 'error' },
  { code: 'unsupported-fstype', fails: 'fsType = "ext3"; partitionTableType = "none";', passes: 'fsType = "btrfs"; partitionTableType = "none";', severity: 'error' },
  { code: 'label-too-long', fails: 'label = "abcdefghijklmnopq";', passes: 'label = "abcdefghijklmnop";', severity: 'error' },
  { code: 'invalid-uuid', fails: 'rootGPUID = "F222513B-DED1-49FA-B591";', passes: 'rootGPUID = "00000000-DED1-49FA-B591-20CE86A2FE7F";', severity: 'error' },
  { code: 'invalid-contents-entry', fails: 'contents = [ { target = "/a"; } ];', passes: 'contents = [ { source = ./a; target = "/a"; } ];', severity: 'error' },
  { code: 'contents-unknown-key', fails: 'contents = [ { source = ./a; target = "/a"; mod = "755"; } ];', passes: 'contents = [ { source = ./a; target = "/a"; mode = "755"; } ];', severity: 'warning' },
  { code: 'contents-invalid-mode', fails: 'contents = [ { source = ./a; target = "/a"; mode = "u+x"; } ];', passes: 'contents = [ { source = ./a; target = "/a"; mode = "0755"; } ];', severity: 'error' },
  { code: 'contents-target', fails: 'contents = [ { source = ./a; target = "/etc/../../a"; } ];', passes: 'contents = [ { source = ./a; target = "/etc/../a"; } ];', severity: 'error' },
  { code: 'contents-duplicate-target', fails: 'contents = [ { source = ./a; target = "/a"; } { source = ./b; target = "/a/"; } ];', passes: 'contents = [ { source = ./a; target = "/a"; } { source = ./b; target = "/b"; } ];', severity: 'error' },
  { code: 'contents-whitespace', fails: 'contents = [ { source = ./a; target = "/my file"; } ];', passes: 'contents = [ { source = ./a; target = "/my-file"; } ];', severity: 'warning' },
  { code: 'boot-partition-no-room', fails: 'partitionTableType = "efixbootldr"; bootSize = "99M";', passes: 'partitionTableType = "efixbootldr"; bootSize = "100M";', severity: 'error' },
  { code: 'disk-too-small', fails: 'partitionTableType = "efi"; diskSize = 257;', passes: 'partitionTableType = "efi"; diskSize = 300;', severity: 'error' },
  { code: 'efivars-without-esp', fails: 'touchEFIVars = true; partitionTableType = "legacy+gpt";', passes: 'touchEFIVars = true; partitionTableType = "hybrid";', severity: 'warning' },
  { code: 'no-effect', fails: 'bootSize = "512M";', passes: 'bootSize = "512M"; partitionTableType = "efi";', severity: 'warning' },
  { code: 'ovmf-without-variables', fails: 'touchEFIVars = true; partitionTableType = "efi"; OVMF = { firmware = ./code.fd; };', passes: 'touchEFIVars = true; partitionTableType = "efi"; OVMF = { variables = ./vars.fd; };', severity: 'error' },
  { code: 'vm-only', fails: 'memSize = "2048";', passes: 'diskSize = 2048;', severity: 'info' },
  { code: 'invalid-mem-size', fails: 'memSize = "lots";', passes: 'memSize = "2048";', severity: 'error' },
  { code: 'lifted-constraint', fails: 'fsType = "btrfs";', passes: 'fsType = "btrfs"; partitionTableType = "none";', severity: 'info' },
  { code: 'needs-newer-nixpkgs', fails: 'baseName = "disk";', passes: 'name = "disk";', severity: 'info' },
];

describe('rules', () => {
  it('has a case for every rule', () => {
    expect(new Set(CASES.map((c) => c.code))).toEqual(new Set(RULES.map((rule) => rule.code)));
  });

  it('gives every rule a distinct code', () => {
    expect(new Set(RULES.map((rule) => rule.code)).size).toBe(RULES.length);
  });

  it.each(CASES)('$code: fires on `$fails`', ({ code, fails, severity }) => {
    const found = diagnosticsOf(fails).filter((d) => d.code === code);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((d) => d.severity === severity)).toBe(true);
  });

  it.each(CASES)('$code: silent on `$passes`', ({ code, passes }) => {
    expect(codes(passes)).not.toContain(code);
  });

  it.each(['memSize = "2048";', 'memSize = 4096;', 'efiFirmware = ./OVMF_CODE.fd;'])('accepts the VM-only `%s` with an info only', (extra) => {
    expect(diagnosticsOf(extra).map((d) => [d.code, d.severity])).toEqual([['vm-only', 'info']]);
  });

  it.each(['memSize = "2G";', 'memSize = "";', 'memSize = true;'])('refuses `%s`, which the build VM of nixpkgs cannot start with', (extra) => {
    expect(diagnosticsOf(extra).filter((d) => d.severity === 'error')).toHaveLength(1);
  });

  it.each(['raw', 'qcow2', 'qcow2-compressed', 'vdi', 'vpc', 'vhdx', 'vmdk', 'qed', 'qcow', 'parallels'])('accepts format = "%s", which qemu-img writes', (format) => {
    expect(diagnosticsOf(`format = "${format}";`).filter((d) => d.severity !== 'info')).toEqual([]);
  });

  it('refuses a format qemu-img cannot write and suggests the nearest', () => {
    const [d] = diagnosticsOf('format = "qcow3";');
    expect(d).toMatchObject({ code: 'unknown-format', severity: 'error', fix: { replacement: '"qcow2"' } });
    expect(diagnosticsOf('format = "dmg";').map((x) => x.severity)).toEqual(['error']);
  });

  it('says nothing about a plain, correct call', () => {
    expect(diagnosticsOf('partitionTableType = "efi"; format = "qcow2"; diskSize = "auto";')).toEqual([]);
  });
});

describe('rules on dynamic values', () => {
  it('never fire on what only Nix knows', () => {
    const extra = [
      'partitionTableType = config.image.table;',
      'bootSize = config.image.bootSize;',
      'diskSize = config.image.size;',
      'label = config.image.label;',
      'rootGPUID = config.image.guid;',
      'format = builtins.getEnv "FORMAT";',
      'onlyNixStore = config.image.storeOnly;',
      'contents = config.image.contents;',
      'touchEFIVars = config.image.efi;',
    ].join(' ');
    expect(diagnosticsOf(extra)).toEqual([]);
  });

  it('reports a call whose whole argument is unknown as info only', () => {
    const found = analyzeFile('/virtual/x.nix', 'args: import <nixpkgs/nixos/lib/make-disk-image.nix> args\n').diagnostics;
    expect(found.map((d) => [d.code, d.severity])).toEqual([['dynamic-argument', 'info']]);
  });
});

describe('diagnostic details', () => {
  it('points at the value and fixes an SI size to the numfmt spelling', () => {
    const [d] = diagnosticsOf('bootSize = "1024MB"; partitionTableType = "efi";').filter((x) => x.code === 'invalid-size');
    expect(d!.range.start).toEqual({ line: 3, column: 13 });
    expect(d!.fix?.replacement).toBe('"1024M"');
  });

  it('suggests the closest argument name and renames the key', () => {
    const [d] = diagnosticsOf('partitonTableType = "efi";').filter((x) => x.code === 'unknown-argument');
    expect(d!.message).toContain('did you mean partitionTableType?');
    expect(d!.range).toEqual({ start: { line: 3, column: 2 }, end: { line: 3, column: 19 } });
    expect(d!.fix?.replacement).toBe('partitionTableType');
  });

  it('explains the onlyNixStore trap and inserts installBootLoader = false before the closing brace', () => {
    const [d] = diagnosticsOf('onlyNixStore = true;').filter((x) => x.code === 'only-nix-store-conflict');
    expect(d!.message).toContain('defaults to true');
    expect(d!.fix).toEqual({ description: 'Set installBootLoader = false', range: { start: { line: 4, column: 0 }, end: { line: 4, column: 0 } }, replacement: 'installBootLoader = false; ' });
  });

  it('replaces an explicit installBootLoader = true with false', () => {
    const [d] = diagnosticsOf('onlyNixStore = true; installBootLoader = true;').filter((x) => x.code === 'only-nix-store-conflict');
    expect(d!.fix?.range.start).toEqual({ line: 3, column: 43 });
    expect(d!.fix?.replacement).toBe('false');
  });

  it('converts a diskSize with a unit to MiB', () => {
    const [d] = diagnosticsOf('diskSize = "4G";').filter((x) => x.code === 'invalid-disk-size');
    expect(d!.fix?.replacement).toBe('4096');
  });

  it.each([
    ['ext4', 'a'.repeat(17), true],
    ['vfat', 'A'.repeat(12), true],
    ['vfat', 'A'.repeat(11), false],
    ['xfs', 'a'.repeat(13), true],
    ['xfs', 'a'.repeat(12), false],
    ['btrfs', 'a'.repeat(256), true],
    ['btrfs', 'a'.repeat(255), false],
    ['f2fs', 'é'.repeat(257), true],
    ['f2fs', 'é'.repeat(256), false],
    // Debian's erofs-utils 1.5 writes no label at all (src/fstypes.ts), so no length applies.
    ['erofs', 'a'.repeat(17), false],
    ['ext4', 'é'.repeat(9), true],
    ['squashfs', 'a'.repeat(300), false],
  ])('label limit of %s for a %#th label', (fsType, label, tooLong) => {
    const found = codes(`fsType = "${fsType}"; partitionTableType = "none"; label = "${label}";`);
    expect(found.includes('label-too-long')).toBe(tooLong);
  });

  it.each([
    ['efi', '7M', true],
    ['efi', '8M', false],
    ['hybrid', '256', true],
    ['legacy+boot', '0', true],
    ['legacy+boot', '1M', false],
    ['efixbootldr', '256M', false],
  ])('bootSize room: %s with %s', (table, size, noRoom) => {
    expect(codes(`partitionTableType = "${table}"; bootSize = "${size}";`).includes('boot-partition-no-room')).toBe(noRoom);
  });

  it('lets a disk too small for the GPT root fail with the layout code’s reason', () => {
    const [d] = diagnosticsOf('partitionTableType = "legacy+gpt"; diskSize = 2;').filter((x) => x.code === 'disk-too-small');
    expect(d!.message).toMatch(/legacy\+gpt/);
  });

  it('warns about rootGPUID only where no partition receives it', () => {
    expect(codes('rootGPUID = "00000000-0000-4000-8000-000000000001"; fsType = "btrfs"; partitionTableType = "none";')).toContain('no-effect');
    expect(codes('rootGPUID = "00000000-0000-4000-8000-000000000001"; partitionTableType = "none";')).not.toContain('no-effect');
    expect(codes('rootGPUID = "00000000-0000-4000-8000-000000000001"; partitionTableType = "efi"; rootFSUID = "00000000-0000-4000-8000-000000000002";')).not.toContain('no-effect');
  });

  it('runs nixpkgs asserts before the other rules (same position sorts by rule order)', () => {
    const codesInOrder = RULES.slice(0, 5).map((r) => r.code);
    expect(codesInOrder).toEqual(['invalid-partition-table-type', 'deterministic-ext4-needs-rootfsuid', 'efivars-need-gpt', 'only-nix-store-conflict', 'contents-user-group']);
  });
});

describe('the formats the format rule accepts', () => {
  it('are exactly those qemu-img writes from a raw disk here (qcow3 and dmg are not)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-formats-'));
    try {
      const input = path.join(dir, 'in.raw');
      await writeFile(input, Buffer.alloc(1024 * 1024));
      const writes = async (format: string) =>
        promisify(execFile)('qemu-img', ['convert', '-f', 'raw', '-O', qemuFormat(format), input, path.join(dir, `out.${format}`)]).then(
          () => true,
          () => false,
        );
      for (const format of [...KNOWN_FORMATS, ...OTHER_QEMU_IMG_FORMATS]) expect(await writes(format), format).toBe(true);
      for (const format of ['qcow3', 'dmg', 'luks']) expect(await writes(format), format).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
