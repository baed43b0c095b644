import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addBootEntries, bootEntriesOnPartitions, EFI_GLOBAL_VARIABLE, espFileDevicePath, liveVariables, loadOption, readVariables, setVariables } from '../../src/image/efivars.js';

// Debian's OVMF template: an FV header and an empty authenticated variable store.
const TEMPLATE = readFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd');
const ESP = { number: 1, firstSector: 16384, lastSector: 526335, uniqueGuid: '1C06F03B-704E-4657-B9CD-681A087A2FDC' };

describe('ESP device path', () => {
  it('is HD(1,GPT,guid,start,size)/File(path)/End, as UEFI encodes it', () => {
    const path = espFileDevicePath(ESP, '\\EFI\\BOOT\\X.EFI');
    expect([...path.subarray(0, 4)]).toEqual([0x04, 0x01, 42, 0]);
    expect(path.readUInt32LE(4)).toBe(1);
    expect(path.readBigUInt64LE(8)).toBe(16384n);
    expect(path.readBigUInt64LE(16)).toBe(509952n);
    // The GUID in its mixed-endian on-disk form, as in the GPT entry.
    expect(path.subarray(24, 40).toString('hex')).toBe('3bf0061c4e705746b9cd681a087a2fdc');
    expect([path[40], path[41]]).toEqual([2, 2]);
    expect([...path.subarray(42, 46)]).toEqual([0x04, 0x04, 4 + 32, 0]);
    expect(path.toString('utf16le', 46, 46 + 30)).toBe('\\EFI\\BOOT\\X.EFI');
    expect([...path.subarray(-4)]).toEqual([0x7f, 0xff, 4, 0]);
  });

  it('refuses a partition without a GPT GUID', () => {
    expect(() => espFileDevicePath({ ...ESP, uniqueGuid: undefined }, '\\x')).toThrow(/no GPT partition GUID/);
  });
});

describe('OVMF variable store', () => {
  it('starts empty in the template', () => {
    expect(readVariables(TEMPLATE).variables).toEqual([]);
  });

  it('adds Boot0000 and BootOrder, parsed back, the rest of the file untouched', () => {
    const out = addBootEntries(TEMPLATE, [{ description: 'Linux Boot Manager', esp: ESP, loaderPath: '\\EFI\\systemd\\systemd-bootx64.efi' }]);
    expect(out.length).toBe(TEMPLATE.length);
    const live = liveVariables(out);
    expect(live.map((v) => [v.name, v.vendorGuid, v.attributes])).toEqual([
      ['Boot0000', EFI_GLOBAL_VARIABLE, 7],
      ['BootOrder', EFI_GLOBAL_VARIABLE, 7],
    ]);
    expect(live[0]!.data).toEqual(loadOption('Linux Boot Manager', espFileDevicePath(ESP, '\\EFI\\systemd\\systemd-bootx64.efi')));
    expect(live[0]!.data.readUInt32LE(0)).toBe(1);
    expect(live[0]!.data.toString('utf16le', 6, 6 + 36)).toBe('Linux Boot Manager');
    expect([...live[1]!.data]).toEqual([0, 0]);
    const { freeOffset } = readVariables(out);
    expect(out.subarray(0, 0x64)).toEqual(TEMPLATE.subarray(0, 0x64));
    expect(out.subarray(freeOffset)).toEqual(TEMPLATE.subarray(freeOffset));
  });

  it('is deterministic', () => {
    const entries = [{ description: 'NixOS-boot', esp: ESP, loaderPath: '\\EFI\\NixOS-boot\\grubx64.efi' }];
    expect(addBootEntries(TEMPLATE, entries).equals(addBootEntries(TEMPLATE, entries))).toBe(true);
  });

  it('takes the next free number and puts it first, replacing the old BootOrder', () => {
    const once = addBootEntries(TEMPLATE, [{ description: 'A', esp: ESP, loaderPath: '\\a.efi' }]);
    const twice = addBootEntries(once, [{ description: 'B', esp: ESP, loaderPath: '\\b.efi' }]);
    const live = liveVariables(twice);
    expect(live.map((v) => v.name)).toEqual(['Boot0000', 'Boot0001', 'BootOrder']);
    expect([...live.find((v) => v.name === 'BootOrder')!.data]).toEqual([1, 0, 0, 0]);
    expect(readVariables(twice).variables.filter((v) => v.name === 'BootOrder').map((v) => v.state)).toEqual([0x3d, 0x3f]);
  });

  it('refuses a file that is no variable store', () => {
    expect(() => readVariables(Buffer.alloc(4096))).toThrow(/no firmware volume header/);
  });

  it('says when the store is full', () => {
    expect(() => setVariables(TEMPLATE, [{ name: 'Big', vendorGuid: EFI_GLOBAL_VARIABLE, attributes: 7, data: Buffer.alloc(300 * 1024) }])).toThrow(/full/);
  });

  it('places entries on the partition of their mount', () => {
    const placed = bootEntriesOnPartitions(
      [{ description: 'X', espMountPoint: '/efi', loaderPath: '\\x.efi' }],
      [{ mountPoint: '/efi', role: 'esp', fsType: 'vfat', uuid: 'AAAA-BBBB', label: 'ESP' }],
      { partitions: [{ ...ESP, role: 'esp', name: 'ESP', bootable: false }] },
    );
    expect(placed[0]!.esp.firstSector).toBe(16384);
  });
});
