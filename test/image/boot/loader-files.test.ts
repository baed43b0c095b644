import { describe, expect, it } from 'vitest';
import type { ImageMount } from '../../../src/image/boot/bootloader.js';
import { parseBootspec, BootspecError } from '../../../src/image/boot/bootspec.js';
import { chosenLoader, readLoaderConfig, BootConfigError } from '../../../src/image/boot/config.js';
import { biosDiskWrites, coreImagePlace, earlyConfig, grubenvBlock } from '../../../src/image/boot/grub.js';
import { efiTarget, grubCfg, grubConfigFilesOf, grubLocation, parseGrubConfig, type GrubSettings } from '../../../src/image/boot/grub-config.js';
import { parseNixXml } from '../../../src/image/boot/nix-xml.js';
import { efiCopyName, entryConf, entryFileName, loaderConf } from '../../../src/image/boot/systemd-boot.js';

const S = '/nix/store';
const spec = (v1: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ 'org.nixos.bootspec.v1': { system: 'x86_64-linux', kernel: `${S}/k-linux/bzImage`, kernelParams: ['quiet'], label: 'NixOS 24.05', toplevel: `${S}/t`, init: `${S}/t/init`, ...v1 }, 'org.nixos.specialisation.v1': {}, ...extra });

describe('parseBootspec', () => {
  it.each([
    ['namespaced, with initrd', spec({ initrd: `${S}/i/initrd` }), { initrd: `${S}/i/initrd`, kernelParams: ['quiet'] }],
    ['without initrd', spec({}), { label: 'NixOS 24.05' }],
    ['systemd-boot sort key', spec({}, { 'org.nixos.systemd-boot': { sortKey: 'zzz' } }), { sortKey: 'zzz' }],
    ['2022 v1 key', JSON.stringify({ v1: JSON.parse(spec({}))['org.nixos.bootspec.v1'] }), { init: `${S}/t/init` }],
    ['systemd-boot devicetree', spec({}, { 'org.nixos.systemd-boot': { sortKey: 'nixos', devicetree: `${S}/dtbs/board.dtb` } }), { devicetree: `${S}/dtbs/board.dtb`, specialisations: {} }],
    [
      'specialisations, each its own document',
      spec({}, { 'org.nixos.specialisation.v1': { debug: JSON.parse(spec({ toplevel: `${S}/d`, init: `${S}/d/init`, kernelParams: ['quiet', 'debug'] }, { 'org.nixos.systemd-boot': { sortKey: 'z' } })) } }),
      { specialisations: { debug: { toplevel: `${S}/d`, init: `${S}/d/init`, kernelParams: ['quiet', 'debug'], sortKey: 'z', specialisations: {} } } },
    ],
  ])('%s', (_, text, expected) => {
    const parsed = parseBootspec(text, 'boot.json');
    expect(parsed).toMatchObject(expected);
    expect('initrd' in parsed).toBe('initrd' in expected);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['no document', '{}', /no "org.nixos.bootspec.v1"/],
    ['kernel missing', spec({ kernel: undefined }), /"kernel" must be a non-empty string/],
    ['params not strings', spec({ kernelParams: [1] }), /"kernelParams" must be a list of strings/],
    ['specialisations not an object', spec({}, { 'org.nixos.specialisation.v1': [] }), /"org.nixos.specialisation.v1" must be an object/],
    ['a specialisation name with a slash', spec({}, { 'org.nixos.specialisation.v1': { 'a/b': JSON.parse(spec({})) } }), /specialisation name "a\/b"/],
    ['a broken specialisation', spec({}, { 'org.nixos.specialisation.v1': { debug: {} } }), /specialisation "debug"\) has no "org.nixos.bootspec.v1"/],
  ])('refuses %s', (_, text, message) => {
    expect(() => parseBootspec(text, 'boot.json')).toThrow(BootspecError);
    expect(() => parseBootspec(text, 'boot.json')).toThrow(message);
  });
});

describe('chosenLoader', () => {
  it.each([
    [{ bootLoaderId: 'grub', grubEnable: true }, 'grub'],
    [{ bootLoaderId: 'systemd-boot', systemdBootEnable: true }, 'systemd-boot'],
    [{ systemdBootEnable: true }, 'systemd-boot'],
  ])('%j → %s', (config, expected) => {
    expect(chosenLoader(readLoaderConfig(config))).toBe(expected);
  });

  it.each([
    [{ bootLoaderId: 'limine', limineEnable: true }, /"limine".*cannot install/],
    [{ bootLoaderId: 'generic-extlinux-compatible' }, /"generic-extlinux-compatible"/],
    [{}, /enables no boot loader nixdisk can install/],
  ])('refuses %j', (config, message) => {
    expect(() => chosenLoader(readLoaderConfig(config))).toThrow(BootConfigError);
    expect(() => chosenLoader(readLoaderConfig(config))).toThrow(message);
  });
});

describe('readLoaderConfig: systemd-boot extras as serialize-args.nix gives them', () => {
  it('reads store paths, host paths and texts with or without context', () => {
    const loader = readLoaderConfig({
      systemdBootExtraFiles: { 'efi/memtest86/memtest.efi': { $drv: `${S}/m.drv`, $out: `${S}/m-memtest`, $output: 'out' }, 'efi/shell.efi': { $path: '/srv/shell.efi' } },
      systemdBootExtraEntries: { 'memtest86.conf': 'title Memtest86+\n', 'shell.conf': { $string: `efi /${S}/x\n`, $context: [`${S}/x`] } },
      systemdBootExtraInstallCommands: '',
    });
    expect(loader.systemdBoot.extraFiles).toEqual({ 'efi/memtest86/memtest.efi': `${S}/m-memtest`, 'efi/shell.efi': '/srv/shell.efi' });
    expect(loader.systemdBoot.extraEntries).toEqual({ 'memtest86.conf': 'title Memtest86+\n', 'shell.conf': `efi /${S}/x\n` });
    expect(loader.systemdBoot.extraEfiDrivers).toEqual({});
  });

  it.each([
    [{ systemdBootExtraFiles: ['a'] }, /extraFiles is not an attribute set/],
    [{ systemdBootExtraFiles: { 'a.efi': 3 } }, /extraFiles\."a\.efi" is not a file/],
    [{ systemdBootExtraEntries: { 'a.conf': { $function: true } } }, /extraEntries\."a\.conf" is not a text/],
  ])('refuses %j', (config, message) => {
    expect(() => readLoaderConfig(config)).toThrow(message);
  });
});

describe('systemd-boot files', () => {
  it.each([
    [`${S}/abc-linux-6.6/bzImage`, 'EFI/nixos/abc-linux-6.6-bzImage.efi'],
    [`${S}/abc-initrd/initrd`, 'EFI/nixos/abc-initrd-initrd.efi'],
    [`${S}/abc-kernel`, 'EFI/nixos/abc-kernel.efi'],
    [`${S}/abc-linux/a/b.img`, 'EFI/nixos/abc-linux-b.img.efi'],
  ])('copy of %s is %s', (file, name) => {
    expect(efiCopyName(file)).toBe(name);
  });

  it.each([
    [{ timeout: 5, systemdBoot: { editor: true, consoleMode: 'keep', xbootldrMountPoint: null, sortKey: 'nixos' } }, 'timeout 5\ndefault e.conf\nconsole-mode keep\n'],
    [{ timeout: null, systemdBoot: { editor: false, consoleMode: 'max', xbootldrMountPoint: null, sortKey: 'nixos' } }, 'timeout menu-force\ndefault e.conf\neditor 0\nconsole-mode max\n'],
  ])('loader.conf %#', (settings, text) => {
    expect(loaderConf(settings, 'e.conf')).toBe(text);
  });

  it.each([
    [null, [], 'version Generation 1 NixOS 24.05\n', 'options init=/t/init \n'],
    ['2024-01-02', ['quiet', 'console=ttyS0'], 'version Generation 1 NixOS 24.05, built on 2024-01-02\n', 'options init=/t/init quiet console=ttyS0\n'],
  ])('entry built on %s', (buildDate, kernelParams, version, options) => {
    const text = entryConf({ title: 'NixOS', sortKey: 'nixos', generation: 1, label: 'NixOS 24.05', buildDate, kernel: 'EFI/nixos/k.efi', initrd: 'EFI/nixos/i.efi', init: '/t/init', kernelParams });
    expect(text).toBe(`title NixOS\nsort-key nixos\n${version}linux /EFI/nixos/k.efi\ninitrd /EFI/nixos/i.efi\n${options}`);
  });

  it('names a devicetree after the options', () => {
    const text = entryConf({ title: 'NixOS', sortKey: 'nixos', generation: 1, label: 'L', buildDate: null, kernel: 'EFI/nixos/k.efi', init: '/t/init', kernelParams: ['quiet'], devicetree: 'EFI/nixos/d-board.dtb.efi' });
    expect(text).toBe('title NixOS\nsort-key nixos\nversion Generation 1 L\nlinux /EFI/nixos/k.efi\noptions init=/t/init quiet\ndevicetree /EFI/nixos/d-board.dtb.efi\n');
  });

  it.each([
    [1, null, 'nixos-generation-1.conf'],
    [1, 'debug', 'nixos-generation-1-specialisation-debug.conf'],
    [12, 'no-gpu', 'nixos-generation-12-specialisation-no-gpu.conf'],
  ])('entry file of generation %i, specialisation %s: %s', (generation, specialisation, name) => {
    expect(entryFileName(generation, specialisation)).toBe(name);
  });
});

describe('builtins.toXML values', () => {
  it('reads every kind toXML prints', () => {
    const xml = `<?xml version='1.0' encoding='utf-8'?>
<expr>
  <attrs>
    <attr name="a"><string value="x &quot;y&quot; &amp; &lt;z&gt;&#xA;" /></attr>
    <attr name="b"><bool value="true" /></attr>
    <attr name="c"><int value="-3" /></attr>
    <attr name="d"><list><string value="p" /><null /></list></attr>
    <attr name="e"><attrs></attrs></attr>
    <attr name="f"><list /></attr>
  </attrs>
</expr>`;
    expect(parseNixXml(xml)).toEqual({ a: 'x "y" & <z>\n', b: true, c: -3, d: ['p', null], e: {}, f: [] });
  });

  it('refuses what is not toXML', () => {
    expect(() => parseNixXml('<expr><attrs><attr name="a"><string value="x"/></attrs></expr>')).toThrow(/expected <\/attr>/);
  });
});

const xmlOf = (attrs: Record<string, string>) =>
  `<expr><attrs>${Object.entries(attrs)
    .map(([name, value]) => `<attr name="${name}">${value}</attr>`)
    .join('')}</attrs></expr>`;

describe('grub-config.xml', () => {
  it('reads the settings install-grub.pl reads, with its defaults', () => {
    const settings = parseGrubConfig(
      xmlOf({ grub: '<string value="/nix/store/g-grub"/>', devices: '<list><string value="/dev/vda"/></list>', canTouchEfiVariables: '<bool value="true"/>', timeout: '<int value="3"/>' }),
      'x.xml',
    );
    expect(settings).toMatchObject({ grub: '/nix/store/g-grub', grubEfi: '', devices: ['/dev/vda'], canTouchEfiVariables: true, timeout: 3, bootPath: '/boot', fsIdentifier: 'uuid' });
  });

  const user = (fields: Record<string, string | null>) =>
    `<attrs><attr name="root"><attrs>${Object.entries({ hashedPassword: null, hashedPasswordFile: null, password: null, passwordFile: null, ...fields })
      .map(([name, value]) => `<attr name="${name}">${value === null ? '<null/>' : `<string value="${value}"/>`}</attr>`)
      .join('')}</attrs></attr></attrs>`;

  it.each([
    [{ hashedPassword: 'grub.pbkdf2.sha512.10000.AB.CD' }, 'password_pbkdf2 root grub.pbkdf2.sha512.10000.AB.CD'],
    [{ password: 'hunter2' }, 'password root hunter2'],
    [{ hashedPassword: 'grub.pbkdf2.x', password: 'ignored' }, 'password_pbkdf2 root grub.pbkdf2.x'],
  ])('users: %j', (fields, line) => {
    expect(parseGrubConfig(xmlOf({ users: user(fields) }), 'x.xml').users).toEqual([{ name: 'root', line }]);
  });

  it.each([
    [{ extraPrepareConfig: '<string value="rm -rf /"/>' }, /extraPrepareConfig/],
    [{ users: user({}) }, /GRUB user "root" has no password/],
    [{ users: user({ hashedPassword: '$6$salt$hash' }) }, /not a grub\.pbkdf2\. hash/],
    [{ users: user({ hashedPasswordFile: '/etc/grub-pw' }) }, /users\.root\.hashedPasswordFile names a file on the machine that installs GRUB/],
    [{ users: user({ passwordFile: '/etc/grub-pw' }) }, /users\.root\.passwordFile/],
    [{ version: '<int value="1"/>' }, /GRUB 2 only/],
  ])('refuses %j', (attrs, message) => {
    expect(() => parseGrubConfig(xmlOf(attrs), 'x.xml')).toThrow(message);
  });

  it('finds the XML in install-grub.sh, once per mirrored boot', () => {
    const script = `#!/bin/sh\n/nix/store/p-perl/bin/perl /nix/store/a-install-grub.pl /nix/store/x-grub-config.xml $@\n/nix/store/p-perl/bin/perl /nix/store/a-install-grub.pl /nix/store/y-grub-config.xml $@\n`;
    expect(grubConfigFilesOf(script)).toEqual(['/nix/store/x-grub-config.xml', '/nix/store/y-grub-config.xml']);
  });

  it.each([
    [{ grub: 'g', grubEfi: 'e' }, 'both'],
    [{ grub: 'g', grubEfi: '' }, 'no'],
    [{ grub: '', grubEfi: 'e' }, 'only'],
    [{ grub: '', grubEfi: '' }, 'neither'],
  ])('efi target of %j is %s', (packages, expected) => {
    expect(efiTarget({ ...packages, grubTarget: 'i386-pc', grubTargetEfi: 'x86_64-efi' })).toBe(expected);
  });
});

const ROOT: ImageMount = { mountPoint: '/', role: 'root', fsType: 'ext4', uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f', label: 'nixos' };
const ESP_BOOT: ImageMount = { mountPoint: '/boot', role: 'esp', fsType: 'vfat', uuid: '1234-ABCD', label: 'ESP' };

function settings(overrides: Partial<GrubSettings> = {}): GrubSettings {
  return { ...parseGrubConfig(xmlOf({ timeout: '<int value="1"/>' }), 'x.xml'), ...overrides };
}

describe('grub.cfg', () => {
  const entry = { kernel: `${S}/k-linux/bzImage`, initrd: `${S}/i-initrd/initrd`, init: `${S}/t/init`, kernelParams: ['console=ttyS0', 'quiet'], specialisations: [], nixosVersion: '24.05', linkDate: '1970-01-01', distroName: 'NixOS' };

  it.each([
    [
      '/boot on the root filesystem: kernels read from the store',
      [ROOT],
      [
        'search --set=drive1 --fs-uuid f222513b-ded1-49fa-b591-20ce86a2fe7f',
        `  linux ($drive2)/nix/store/k-linux/bzImage init=${S}/t/init console=ttyS0 quiet\n  initrd ($drive2)/nix/store/i-initrd/initrd\n`,
        'menuentry "NixOS - Configuration 1 (1970-01-01 - 24.05)" --class nixos {',
      ],
      0,
    ],
    [
      '/boot on the ESP: kernels copied there',
      [ROOT, ESP_BOOT],
      ['search --set=drive1 --fs-uuid 1234-ABCD', `  linux ($drive1)//kernels/k-linux-bzImage init=${S}/t/init console=ttyS0 quiet\n  initrd ($drive1)//kernels/i-initrd-initrd\n`],
      2,
    ],
  ])('%s', (_, mounts, lines, copies) => {
    const cfg = grubCfg(settings(), mounts, entry);
    expect(cfg.text.startsWith('# Automatically generated.  DO NOT EDIT THIS FILE!\n')).toBe(true);
    for (const line of lines) expect(cfg.text).toContain(line);
    expect(cfg.text).toContain('menuentry "NixOS - Default" --class nixos --unrestricted {');
    expect(cfg.text).toContain('set timeout=1');
    expect(cfg.copies.size).toBe(copies);
  });

  it('lists specialisations after the default entry and extraEntries, with no entry options, outside the submenu', () => {
    const debug = { title: 'NixOS - (debug - 1970-01-01 - 24.05)', kernel: `${S}/k-linux/bzImage`, initrd: `${S}/i-initrd/initrd`, init: `${S}/d/init`, kernelParams: ['quiet', 'debug'] };
    const cfg = grubCfg(settings({ extraEntries: 'menuentry "Extra" {\n}' }), [ROOT], { ...entry, specialisations: [debug] });
    const special = cfg.text.indexOf('menuentry "NixOS - (debug - 1970-01-01 - 24.05)"  {\n');
    expect(special).toBeGreaterThan(cfg.text.indexOf('menuentry "Extra" {'));
    expect(special).toBeGreaterThan(cfg.text.indexOf('menuentry "NixOS - Default"'));
    expect(special).toBeLessThan(cfg.text.indexOf('submenu "NixOS - All configurations"'));
    expect(cfg.text.slice(special)).toContain(`  linux ($drive2)/nix/store/k-linux/bzImage init=${S}/d/init quiet debug\n`);
    expect(cfg.text.match(/menuentry /g)).toHaveLength(4);
  });

  it('searches by label with fsIdentifier = "label"', () => {
    expect(grubLocation([ROOT, ESP_BOOT], '/boot', 'label', 1)).toEqual({ search: 'search --set=drive1 --label ESP', path: '($drive1)/' });
    expect(grubLocation([ROOT], '/boot', 'uuid', 2)).toEqual({ search: `search --set=drive2 --fs-uuid ${ROOT.uuid}`, path: '($drive2)/boot' });
  });

  it('writes the superusers first, the theme and its fonts before extraConfig', () => {
    const users = [{ name: 'root', line: 'password_pbkdf2 root grub.pbkdf2.x' }, { name: 'admin', line: 'password admin pw' }];
    const cfg = grubCfg(settings({ users, theme: `${S}/t-theme`, extraConfig: 'EXTRA' }), [ROOT], entry, ['a.pf2', 'fonts/b.pf2']);
    expect(cfg.text.startsWith('# Automatically generated.  DO NOT EDIT THIS FILE!\n\npassword_pbkdf2 root grub.pbkdf2.x\npassword admin pw\nset superusers="root admin"\n')).toBe(true);
    expect(cfg.copies.get('/boot/theme')).toBe(`${S}/t-theme`);
    const theme = cfg.text.indexOf('set theme=($drive1)/boot/theme/theme.txt\n            export theme\n');
    expect(theme).toBeGreaterThan(0);
    expect(cfg.text.indexOf('loadfont ($drive1)/boot/theme/a.pf2\n')).toBeGreaterThan(theme);
    expect(cfg.text.indexOf('loadfont ($drive1)/boot/theme/fonts/b.pf2\n')).toBeGreaterThan(cfg.text.indexOf('theme/a.pf2'));
    expect(cfg.text.indexOf('EXTRA\n')).toBeGreaterThan(cfg.text.indexOf('theme/fonts/b.pf2'));
  });

  it('copies the font and loads it from bootPath', () => {
    const cfg = grubCfg(settings({ font: `${S}/g/share/grub/unicode.pf2` }), [ROOT], entry);
    expect(cfg.copies.get('/boot/converted-font.pf2')).toBe(`${S}/g/share/grub/unicode.pf2`);
    expect(cfg.text).toContain('if loadfont ($drive1)/boot/converted-font.pf2; then');
  });
});

describe('GRUB images', () => {
  it.each([
    [ROOT, '/boot/grub', `search.fs_uuid ${ROOT.uuid} root\nset prefix=($root)/boot/grub\n`],
    [ESP_BOOT, '/boot/grub', 'search.fs_uuid 1234-ABCD root\nset prefix=($root)/grub\n'],
  ])('early config on %j', (mount, dir, text) => {
    expect(earlyConfig(mount, dir)).toBe(text);
  });

  it.each([
    ['legacy', { kind: 'mbr' as const, partitions: [{ role: 'root' as const, firstSector: 2048, lastSector: 9999 }] }, { sector: 1, maxSectors: 2047 }],
    ['legacy+gpt', { kind: 'gpt' as const, partitions: [{ role: 'bios-boot' as const, firstSector: 2048, lastSector: 4095 }] }, { sector: 2048, maxSectors: 2048 }],
    ['hybrid', { kind: 'gpt' as const, partitions: [{ role: 'bios-boot' as const, firstSector: 34, lastSector: 2048 }] }, { sector: 34, maxSectors: 2015 }],
  ])('core.img place for %s', (_, table, place) => {
    expect(coreImagePlace(table as never)).toEqual(place);
  });

  it('refuses BIOS GRUB on a GPT without a BIOS boot partition', () => {
    expect(() => coreImagePlace({ kind: 'gpt', partitions: [] })).toThrow(/legacy\+gpt and hybrid/);
  });

  it('patches boot.img and core.img as grub-bios-setup does', () => {
    const bootImg = Buffer.alloc(512, 0xab);
    const coreImg = Buffer.alloc(1024, 0xcd);
    const [mbr, core] = biosDiskWrites(bootImg, coreImg, 2048);
    expect(mbr!.offsetBytes).toBe(0);
    expect(mbr!.bytes.length).toBe(440);
    expect(mbr!.bytes.readBigUInt64LE(0x5c)).toBe(2048n);
    expect([mbr!.bytes[0x66], mbr!.bytes[0x67]]).toEqual([0x90, 0x90]);
    expect(core!.offsetBytes).toBe(2048 * 512);
    expect(core!.bytes.readBigUInt64LE(500)).toBe(2049n);
    expect(core!.bytes[499]).toBe(0xcd);
  });

  it('writes the empty environment block grub-editenv writes', () => {
    const block = grubenvBlock();
    expect(block.length).toBe(1024);
    expect(block.toString('latin1', 0, 25)).toBe('# GRUB Environment Block\n');
    expect(block[1023]).toBe(0x23);
  });
});
