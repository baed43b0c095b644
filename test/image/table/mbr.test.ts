import { describe, expect, it } from 'vitest';
import { layoutPartitions, LayoutError } from '../../../src/image/table/layouts.js';
import { chsBytes, mbrBytes } from '../../../src/image/table/mbr.js';
import type { TablePlan } from '../../../src/image/plan.js';

const MiB = 1024 * 1024;
const ROOT_GPUID = 'F222513B-DED1-49FA-B591-20CE86A2FE7F';
const entry = (sector: Buffer, slot: number): string => sector.subarray(0x1be + slot * 16, 0x1ce + slot * 16).toString('hex');

describe('chsBytes (4 heads × 32 sectors, as parted assumes for files)', () => {
  it.each([
    [0, '000100'],
    [1, '000200'],
    [2048, '000110'],
    [40959, '03603f'],
    [40960, '004140'],
    [65535, '0360ff'],
    [131071, '03e0ff'],
    [131072, '03e0ff'],
    [4194303, '03e0ff'],
  ])('LBA %d → %s', (lba, hex) => {
    expect(Buffer.from(chsBytes(lba)).toString('hex')).toBe(hex);
  });
});

describe('mbrBytes', () => {
  it('writes legacy+boot as parted does on 32 MiB (measured bytes)', () => {
    const table = layoutPartitions('legacy+boot', 65536, 19 * MiB, ROOT_GPUID);
    const sector = mbrBytes(table, 65536);
    expect(entry(sector, 0)).toBe('800001100c03603f0008000000980000');
    expect(entry(sector, 1)).toBe('00004140830360ff00a0000000600000');
    expect(entry(sector, 2)).toBe('0'.repeat(32));
    expect(sector.readUInt32LE(0x1b8)).toBe(0xf222513b);
    expect(sector.subarray(0, 440).every((byte) => byte === 0)).toBe(true);
    expect(sector.subarray(510).toString('hex')).toBe('55aa');
  });

  it('clamps CHS past cylinder 1023 on 2 GiB', () => {
    const sector = mbrBytes(layoutPartitions('legacy', 4194304, 256 * MiB, ROOT_GPUID), 4194304);
    expect(entry(sector, 0)).toBe('00000110' + '83' + '03e0ff' + '00080000' + '00f83f00');
  });

  it.each([
    [8192, 8191],
    [4194304, 4194303],
    [3 * 1024 * 1024 * 2048, 0xffffffff],
  ])('writes the protective MBR of a %d-sector GPT disk with size %d', (sectors, size) => {
    const table: TablePlan = { kind: 'gpt', diskGuid: ROOT_GPUID, partitions: [] };
    const sector = mbrBytes(table, sectors);
    expect(entry(sector, 0).slice(0, 24)).toBe('00' + '000200' + 'ee' + 'ffffff' + '01000000');
    expect(sector.readUInt32LE(0x1be + 12)).toBe(size);
    expect(sector.subarray(0, 0x1be).every((byte) => byte === 0)).toBe(true);
    expect(sector.subarray(0x1ce, 510).every((byte) => byte === 0)).toBe(true);
    expect(sector.subarray(510).toString('hex')).toBe('55aa');
  });

  it('refuses tables it cannot write', () => {
    expect(() => mbrBytes({ kind: 'none', partitions: [] }, 2048)).toThrow(LayoutError);
    const five = Array.from({ length: 5 }, (_, i) => ({ number: i + 1, role: 'root' as const, name: '', mbrType: 0x83, bootable: false, firstSector: 2048 * (i + 1), lastSector: 2048 * (i + 2) - 1 }));
    expect(() => mbrBytes({ kind: 'mbr', partitions: five }, 65536)).toThrow(/4 primary partitions/);
    expect(() => mbrBytes({ kind: 'mbr', partitions: [{ ...five[0]!, mbrType: undefined }] }, 65536)).toThrow(/no type byte/);
    expect(() => mbrBytes({ kind: 'mbr', partitions: [{ ...five[0]!, lastSector: 70000 }] }, 65536)).toThrow(/does not fit/);
  });
});
