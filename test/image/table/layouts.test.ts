import { describe, expect, it } from 'vitest';
import type { PartitionTableType } from '../../../src/options.js';
import {
  bootEndMiBFromBytes,
  type Entropy,
  GPT_TYPE,
  LayoutError,
  layoutPartitions,
  pinnedMbrSignature,
  rootPartitionNumber,
  smallestDiskSectors,
} from '../../../src/image/table/layouts.js';

const MiB = 1024 * 1024;
const ROOT_GPUID = 'F222513B-DED1-49FA-B591-20CE86A2FE7F';
const DISK_GUID = '97FD5997-F390-0B4A-A3F8-D106C1723AEA';
const P1 = '1C06F03B-704E-4657-B9CD-681A087A2FDC';
const P2 = '970C694F-AFD0-4B99-B750-CDB7A329AB6F';
const { esp: ESP, xbootldr: XBOOTLDR, biosBoot: BIOS, linuxFilesystem: LINUX } = GPT_TYPE;

type Row = [number, string, number, number, string | number, string?];
const rows = (type: PartitionTableType, n: number, bootMiB: number): Row[] => {
  const b = bootMiB * 2048;
  // `100%` on GPT: the aligned N-2049 from 201 MiB up, the last usable N-34 below (FACTS + NOTES).
  const gptEnd = n >= 201 * 2048 ? n - 2049 : n - 34;
  switch (type) {
    case 'none':
      return [];
    case 'legacy':
      return [[1, 'root', 2048, n - 1, 0x83]];
    case 'legacy+boot':
      return [[1, 'boot', 2048, b - 1, 0x0c], [2, 'root', b, n - 1, 0x83]];
    case 'legacy+gpt':
      return [[1, 'bios-boot', 2048, 4095, BIOS, 'no-fs'], [2, 'root', 4096, gptEnd, LINUX, 'primary']];
    case 'efi':
      return [[1, 'esp', 16384, b - 1, ESP, 'ESP'], [2, 'root', b, gptEnd, LINUX, 'primary']];
    case 'efixbootldr':
      return [[1, 'esp', 16384, 204799, ESP, 'ESP'], [2, 'xbootldr', 204800, b - 1, XBOOTLDR, 'BOOT'], [3, 'root', b, gptEnd, LINUX, 'ROOT']];
    case 'hybrid':
      return [[1, 'esp', 16384, b - 1, ESP, 'ESP'], [2, 'bios-boot', 34, 2048, BIOS, 'no-fs'], [3, 'root', b, gptEnd, LINUX, 'primary']];
  }
};

const ALL: PartitionTableType[] = ['none', 'legacy', 'legacy+boot', 'legacy+gpt', 'efi', 'efixbootldr', 'hybrid'];
const SIZES: { mib: number; bootSize: number }[] = [
  { mib: 64, bootSize: 32 * MiB },
  { mib: 300, bootSize: 256 * MiB },
  { mib: 2048, bootSize: 256 * MiB },
  { mib: 3 * 1024 * 1024, bootSize: 256 * MiB },
];
const cases = ALL.flatMap((type) =>
  SIZES.filter(({ mib }) => !(type === 'efixbootldr' && mib === 64))
    .filter(({ mib }) => !(type.startsWith('legacy') && type !== 'legacy+gpt' && mib > 2 * 1024 * 1024))
    .map((size) => ({ type, ...size })),
);

describe('layoutPartitions', () => {
  it.each(cases)('$type on $mib MiB', ({ type, mib, bootSize }) => {
    const n = mib * 2048;
    const table = layoutPartitions(type, n, bootSize, ROOT_GPUID);
    const actual: Row[] = table.partitions.map((p) => {
      const row: Row = [p.number, p.role, p.firstSector, p.lastSector, (p.typeGuid ?? p.mbrType)!];
      if (p.typeGuid) row.push(p.name);
      return row;
    });
    expect(actual).toEqual(rows(type, n, bootEndMiBFromBytes(bootSize)));
    expect(table.kind).toBe(type === 'none' ? 'none' : type === 'legacy' || type === 'legacy+boot' ? 'mbr' : 'gpt');
  });

  it('matches the measured 2 GiB table of NOTES.md with the default bootSize', () => {
    const hybrid = layoutPartitions('hybrid', 4194304, 256 * MiB, ROOT_GPUID).partitions;
    expect(hybrid.map((p) => [p.firstSector, p.lastSector])).toEqual([[16384, 526335], [34, 2048], [526336, 4192255]]);
    const boot = layoutPartitions('legacy+boot', 4194304, 256 * MiB, ROOT_GPUID).partitions;
    expect(boot.map((p) => [p.firstSector, p.lastSector, p.mbrType, p.bootable])).toEqual([
      [2048, 526335, 0x0c, true],
      [526336, 4194303, 0x83, false],
    ]);
  });

  it.each([
    ['legacy+gpt', [P1, P2]],
    ['efi', [P1, ROOT_GPUID]],
    ['efixbootldr', [P1, P2, ROOT_GPUID]],
    ['hybrid', [P1, P2, ROOT_GPUID]],
  ] as const)('%s gets nixpkgs’ deterministic GUIDs (legacy+gpt root: not rootGPUID)', (type, guids) => {
    const table = layoutPartitions(type, 4194304, 256 * MiB, ROOT_GPUID);
    expect(table.diskGuid).toBe(DISK_GUID);
    expect(table.partitions.map((p) => p.uniqueGuid)).toEqual(guids);
  });

  it('reads rootGPUID as sgdisk does', () => {
    const table = layoutPartitions('efi', 4194304, 256 * MiB, 'f222513bded149fab59120ce86a2fe7f');
    expect(table.partitions[1]!.uniqueGuid).toBe(ROOT_GPUID);
  });

  it('pins the MBR signature to the first field of rootGPUID when deterministic', () => {
    expect(layoutPartitions('legacy', 4194304, 256 * MiB, ROOT_GPUID).mbrSignature).toBe(0xf222513b);
    expect(pinnedMbrSignature('0123ABCD-DED1-49FA-B591-20CE86A2FE7F')).toBe(0x0123abcd);
  });

  it('draws GUIDs and the signature from entropy when not deterministic', () => {
    let counter = 0;
    const entropy: Entropy = {
      guid: () => `00000000-0000-4000-8000-00000000000${++counter}`,
      mbrSignature: () => 0x12345678,
    };
    const gpt = layoutPartitions('efi', 4194304, 256 * MiB, ROOT_GPUID, false, entropy);
    expect([...gpt.partitions.map((p) => p.uniqueGuid), gpt.diskGuid]).toEqual([
      '00000000-0000-4000-8000-000000000001',
      '00000000-0000-4000-8000-000000000002',
      '00000000-0000-4000-8000-000000000003',
    ]);
    expect(layoutPartitions('legacy', 4194304, 256 * MiB, ROOT_GPUID, false, entropy).mbrSignature).toBe(0x12345678);
    const [a, b] = [0, 1].map(() => layoutPartitions('efi', 4194304, 256 * MiB, ROOT_GPUID, false).diskGuid);
    expect(a).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(a).not.toBe(b);
  });

  it.each([
    ['efi', 64, 256 * MiB, /partition 1 \(esp\) would end at sector 526335, past the last usable sector 131038: the 64 MiB disk is too small for this layout with bootSize ending at 257 MiB; it needs at least 259 MiB/],
    ['efi', 2048, 7 * MiB, /bootSize must end after 8MiB: raise bootSize to at least 8M/],
    ['hybrid', 2048, 0, /bootSize must end after 8MiB/],
    ['efixbootldr', 2048, 99 * MiB, /bootSize must end after 100MiB: raise bootSize to at least 100M/],
    ['legacy+boot', 2048, 512 * 1024, /bootSize must end after 1MiB/],
    ['legacy+gpt', 3, 0, /cannot end a partition at 100% of a 3 MiB disk/],
    ['legacy+boot', 2, MiB, /partition 2 \(root\) would be empty \(sectors 4096..4095\): the 2 MiB disk is too small for this layout with bootSize ending at 2 MiB; it needs at least 3 MiB/],
    ['legacy', 3 * 1024 * 1024, 0, /msdos table can address \(2 TiB\)/],
    ['efi', 256, 256 * MiB, /partition 1 \(esp\) would end at sector 526335.*needs at least 259 MiB/],
  ] as const)('%s on %d MiB with bootSize %d bytes: %s', (type, mib, bootSize, message) => {
    expect(() => layoutPartitions(type, mib * 2048, bootSize, ROOT_GPUID)).toThrow(LayoutError);
    expect(() => layoutPartitions(type, mib * 2048, bootSize, ROOT_GPUID)).toThrow(message);
  });

  it.each([0, 1000, 2049.5, -2048])('refuses a disk of %d sectors', (sectors) => {
    expect(() => layoutPartitions('legacy', sectors, 0, ROOT_GPUID)).toThrow(/whole number of MiB/);
  });
});

describe('rootPartitionNumber', () => {
  it.each([
    ['none', 0],
    ['legacy', 1],
    ['legacy+boot', 2],
    ['legacy+gpt', 2],
    ['efi', 2],
    ['efixbootldr', 3],
    ['hybrid', 3],
  ] as const)('%s → %d', (type, number) => expect(rootPartitionNumber(type)).toBe(number));
});

describe('bootEndMiBFromBytes (round_to_nearest always adds a step)', () => {
  it.each([
    [256 * MiB, 257],
    [256 * MiB - 1, 256],
    [0, 1],
    [1024 * MiB, 1025],
  ])('%d bytes → %d MiB', (bytes, mib) => expect(bootEndMiBFromBytes(bytes)).toBe(mib));
  it('refuses fractions and negatives', () => {
    expect(() => bootEndMiBFromBytes(-1)).toThrow(LayoutError);
    expect(() => bootEndMiBFromBytes(1.5)).toThrow(LayoutError);
  });
});

describe('smallestDiskSectors', () => {
  const rootSectors = (type: PartitionTableType, n: number, bootSize: number): number => {
    if (type === 'none') return n;
    try {
      const root = layoutPartitions(type, n, bootSize, ROOT_GPUID).partitions.find((p) => p.role === 'root')!;
      return root.lastSector - root.firstSector + 1;
    } catch {
      return 0;
    }
  };
  const needs = [0, 1, 512, 100 * MiB, 150 * MiB - 1, 190 * MiB, 199 * MiB, 199 * MiB + 512, 200 * MiB, 3 * 1024 * MiB + 17];
  const cases = ALL.flatMap((type) => needs.map((bytes) => ({ type, bytes })));

  it.each(cases)('$type holding $bytes bytes: smallest whole-MiB disk', ({ type, bytes }) => {
    const bootSize = type === 'efixbootldr' ? 150 * MiB : 20 * MiB;
    const n = smallestDiskSectors(type, bytes, bootSize);
    expect(n % 2048).toBe(0);
    expect(rootSectors(type, n, bootSize) * 512).toBeGreaterThanOrEqual(Math.max(bytes, 1));
    // Every smaller whole-MiB disk is too small (the 100% end is not monotonic near 200 MiB).
    for (let smaller = n - 2048; smaller > 0 && smaller >= n - 8 * 2048; smaller -= 2048) {
      expect(rootSectors(type, smaller, bootSize) * 512).toBeLessThan(Math.max(bytes, 1));
    }
  });

  it('crosses the 200/201 MiB step of parted’s 100% on GPT', () => {
    // On 200 MiB the root ends at N-34; on 201 MiB at N-2049, only 33 sectors further out.
    const rootOn200 = rootSectors('efi', 200 * 2048, 20 * MiB);
    expect(rootSectors('efi', 201 * 2048, 20 * MiB)).toBe(rootOn200 + 33);
    expect(smallestDiskSectors('efi', rootOn200 * 512, 20 * MiB)).toBe(200 * 2048);
    expect(smallestDiskSectors('efi', (rootOn200 + 33) * 512, 20 * MiB)).toBe(201 * 2048);
    expect(smallestDiskSectors('efi', (rootOn200 + 34) * 512, 20 * MiB)).toBe(202 * 2048);
  });

  it('refuses a bootSize no disk size can fix', () => {
    expect(() => smallestDiskSectors('efixbootldr', MiB, 20 * MiB)).toThrow(/raise bootSize to at least 100M/);
  });

  it('refuses a negative or fractional size', () => {
    expect(() => smallestDiskSectors('efi', -1, 0)).toThrow(LayoutError);
    expect(() => smallestDiskSectors('efi', 0.5, 0)).toThrow(LayoutError);
  });
});
