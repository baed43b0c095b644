import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gptBytes } from '../../../src/image/table/gpt.js';
import { guidFromBytes } from '../../../src/image/table/guid.js';
import { layoutPartitions, LayoutError } from '../../../src/image/table/layouts.js';

const MiB = 1024 * 1024;
const ROOT_GPUID = 'F222513B-DED1-49FA-B591-20CE86A2FE7F';

function readHeader(sector: Buffer) {
  const withoutCrc = Buffer.from(sector.subarray(0, 92));
  withoutCrc.writeUInt32LE(0, 16);
  return {
    signature: sector.toString('latin1', 0, 8),
    revision: sector.readUInt32LE(8),
    size: sector.readUInt32LE(12),
    crcValid: sector.readUInt32LE(16) === crc32(withoutCrc),
    myLba: Number(sector.readBigUInt64LE(24)),
    alternateLba: Number(sector.readBigUInt64LE(32)),
    firstUsable: Number(sector.readBigUInt64LE(40)),
    lastUsable: Number(sector.readBigUInt64LE(48)),
    diskGuid: guidFromBytes(sector.subarray(56, 72)),
    entriesLba: Number(sector.readBigUInt64LE(72)),
    entryCount: sector.readUInt32LE(80),
    entrySize: sector.readUInt32LE(84),
    entriesCrc: sector.readUInt32LE(88),
    restZero: sector.subarray(92).every((byte) => byte === 0),
  };
}

function readEntry(entries: Buffer, slot: number) {
  const at = slot * 128;
  return {
    type: guidFromBytes(entries.subarray(at, at + 16)),
    unique: guidFromBytes(entries.subarray(at + 16, at + 32)),
    first: Number(entries.readBigUInt64LE(at + 32)),
    last: Number(entries.readBigUInt64LE(at + 40)),
    attributes: entries.readBigUInt64LE(at + 48),
    name: entries.toString('utf16le', at + 56, at + 128).replace(/\0+$/, ''),
  };
}

describe('gptBytes', () => {
  it.each([
    { mib: 64, n: 131072 },
    { mib: 2048, n: 4194304 },
    { mib: 3 * 1024 * 1024, n: 3 * 1024 * 1024 * 2048 },
  ])('writes consistent primary and backup headers on $mib MiB', ({ n }) => {
    const table = layoutPartitions('hybrid', n, 32 * MiB, ROOT_GPUID);
    const { primary, backup } = gptBytes(table, n);
    expect(primary.length).toBe(34 * 512);
    expect(backup.length).toBe(33 * 512);
    const entriesCrc = crc32(primary.subarray(1024));
    const common = { signature: 'EFI PART', revision: 0x00010000, size: 92, crcValid: true, firstUsable: 34, lastUsable: n - 34, diskGuid: '97FD5997-F390-0B4A-A3F8-D106C1723AEA', entryCount: 128, entrySize: 128, entriesCrc, restZero: true };
    expect(readHeader(primary.subarray(512, 1024))).toEqual({ ...common, myLba: 1, alternateLba: n - 1, entriesLba: 2 });
    expect(readHeader(backup.subarray(32 * 512))).toEqual({ ...common, myLba: n - 1, alternateLba: 1, entriesLba: n - 33 });
    expect(backup.subarray(0, 32 * 512).equals(primary.subarray(1024))).toBe(true);
  });

  it('puts entries in slots by partition number (hybrid: slot 2 is first on disk)', () => {
    const { primary } = gptBytes(layoutPartitions('hybrid', 4194304, 256 * MiB, ROOT_GPUID), 4194304);
    const entries = primary.subarray(1024);
    expect([0, 1, 2, 3].map((slot) => readEntry(entries, slot))).toEqual([
      { type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', unique: '1C06F03B-704E-4657-B9CD-681A087A2FDC', first: 16384, last: 526335, attributes: 0n, name: 'ESP' },
      { type: '21686148-6449-6E6F-744E-656564454649', unique: '970C694F-AFD0-4B99-B750-CDB7A329AB6F', first: 34, last: 2048, attributes: 0n, name: 'no-fs' },
      { type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', unique: ROOT_GPUID, first: 526336, last: 4192255, attributes: 0n, name: 'primary' },
      { type: '00000000-0000-0000-0000-000000000000', unique: '00000000-0000-0000-0000-000000000000', first: 0, last: 0, attributes: 0n, name: '' },
    ]);
  });

  it('refuses what a GPT cannot hold', () => {
    const table = layoutPartitions('efi', 4194304, 256 * MiB, ROOT_GPUID);
    expect(() => gptBytes({ ...table, kind: 'mbr' }, 4194304)).toThrow(LayoutError);
    expect(() => gptBytes({ ...table, diskGuid: undefined }, 4194304)).toThrow(/disk GUID/);
    expect(() => gptBytes({ ...table, partitions: [{ ...table.partitions[0]!, name: 'x'.repeat(37) }] }, 4194304)).toThrow(/longer than 36/);
    expect(() => gptBytes({ ...table, partitions: [{ ...table.partitions[0]!, number: 129 }] }, 4194304)).toThrow(/1\.\.128/);
    expect(() => gptBytes({ ...table, partitions: [] }, 60)).toThrow(/more than 67 sectors/);
  });
});
