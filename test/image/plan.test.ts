import { describe, expect, it } from 'vitest';
import type { ImageOptions, PartitionTableType } from '../../src/options.js';
import { additionalSpaceBytes, assemblyPieces, bootEndMiB, diskSectors, planImage, PlanError, type ImagePiece } from '../../src/image/plan.js';

const MiB = 1024 * 1024;

function options(overrides: Partial<ImageOptions> = {}): ImageOptions {
  return {
    name: 'nixos-disk-image',
    baseName: 'nixos',
    format: 'raw',
    diskSize: 'auto',
    additionalSpace: '512M',
    bootSize: '256M',
    partitionTableType: 'legacy',
    fsType: 'ext4',
    label: 'nixos',
    onlyNixStore: false,
    installBootLoader: true,
    touchEFIVars: false,
    deterministic: true,
    rootGPUID: 'F222513B-DED1-49FA-B591-20CE86A2FE7F',
    rootFSUID: 'F222513B-DED1-49FA-B591-20CE86A2FE7F',
    copyChannel: true,
    contents: [],
    additionalPaths: [],
    postVM: '',
    memSize: 1024,
    configFile: null,
    efiFirmware: null,
    efiVariables: null,
    ...overrides,
  };
}

const TYPES: PartitionTableType[] = ['none', 'legacy', 'legacy+boot', 'legacy+gpt', 'efi', 'efixbootldr', 'hybrid'];

describe('bootEndMiB', () => {
  it.each([
    ['256M', 257],
    ['1G', 1025],
    ['100M', 101],
    ['255.5M', 256],
    ['0', 1],
  ])('%s → %d', (text, mib) => expect(bootEndMiB(text)).toBe(mib));
  it('refuses what numfmt refuses', () => {
    expect(() => bootEndMiB('256MB')).toThrow(PlanError);
    expect(() => bootEndMiB('big')).toThrow(/bootSize "big" is not a size/);
  });
});

describe('planImage with a fixed diskSize', () => {
  it('plans efi on 2048 MiB as nixpkgs lays it out', () => {
    const plan = planImage(options({ partitionTableType: 'efi', diskSize: 2048, format: 'qcow2-compressed' }));
    expect(plan.totalSectors).toBe(4194304);
    expect(plan.rootPartition).toBe(2);
    expect(plan.rootOffsetBytes).toBe(526336 * 512);
    expect(plan.rootSizeBytes).toBe((4192255 - 526336 + 1) * 512);
    expect(plan.imageFileName).toBe('nixos.qcow2');
    expect(plan.table.diskGuid).toBe('97FD5997-F390-0B4A-A3F8-D106C1723AEA');
  });

  it('lets the filesystem fill the whole image for none', () => {
    const plan = planImage(options({ partitionTableType: 'none', diskSize: 100, baseName: 'store', format: 'vpc' }));
    expect([plan.rootPartition, plan.rootOffsetBytes, plan.rootSizeBytes, plan.imageFileName]).toEqual([0, 0, 100 * MiB, 'store.vhd']);
  });

  it('refuses a filesystem larger than the root partition', () => {
    expect(() => planImage(options({ diskSize: 64 }), 64 * MiB)).toThrow(/diskSize 64 MiB is too small: the root partition holds 63 MiB, the filesystem needs 64 MiB/);
  });

  it.each([0, -5, 1.5])('refuses diskSize %d', (diskSize) => {
    expect(() => diskSectors(options({ diskSize }))).toThrow(/positive whole number of MiB/);
  });
});

describe('planImage with diskSize = "auto"', () => {
  it('needs the filesystem size', () => {
    expect(() => planImage(options())).toThrow(/known only while building/);
  });

  it('refuses a bad additionalSpace', () => {
    expect(() => additionalSpaceBytes(options({ additionalSpace: '1 GiB' }))).toThrow(/additionalSpace "1 GiB"/);
  });

  const sizes = [4096, 300 * MiB + 4096, 1234567 * 4096];
  const cases = TYPES.flatMap((type) => sizes.map((filesystemBytes) => ({ type, filesystemBytes })));
  it.each(cases)('$type: the smallest disk whose root holds $filesystemBytes bytes', ({ type, filesystemBytes }) => {
    const plan = planImage(options({ partitionTableType: type }), filesystemBytes);
    const needed = filesystemBytes;
    expect(plan.totalSectors % 2048).toBe(0);
    expect(plan.rootSizeBytes).toBeGreaterThanOrEqual(needed);
    // One MiB less would not hold it.
    expect(() => planImage(options({ partitionTableType: type, diskSize: plan.totalSectors / 2048 - 1 }), needed)).toThrow();
  });

  it('needs no more than nixpkgs reserves for the layout (efi: GPT + bootSize)', () => {
    const filesystemBytes = 1000 * MiB;
    const plan = planImage(options({ partitionTableType: 'efi' }), filesystemBytes);
    // nixpkgs: filesystem + 512·34 + 257 MiB, rounded up a full MiB; ours is exact, and a MiB of alignment at most beyond.
    expect(plan.totalSectors * 512).toBe(filesystemBytes + 257 * MiB + MiB);
  });
});

describe('assemblyPieces', () => {
  const check = (pieces: ImagePiece[], totalBytes: number): void => {
    let cursor = 0;
    for (const piece of pieces) {
      expect(piece.offsetBytes).toBe(cursor);
      expect(piece.sizeBytes).toBeGreaterThan(0);
      cursor += piece.sizeBytes;
    }
    expect(cursor).toBe(totalBytes);
  };

  it.each(TYPES)('%s on 2048 MiB: ordered, gapless, covering the image', (type) => {
    const plan = planImage(options({ partitionTableType: type, diskSize: 2048 }));
    const pieces = assemblyPieces(plan);
    check(pieces, 2048 * MiB);
    const root = pieces.find((piece) => piece.role === 'root')!;
    expect([root.offsetBytes, root.sizeBytes]).toEqual([plan.rootOffsetBytes, plan.rootSizeBytes]);
  });

  it('gives none a single piece', () => {
    const plan = planImage(options({ partitionTableType: 'none', diskSize: 16 }));
    expect(assemblyPieces(plan)).toEqual([{ kind: 'partition', offsetBytes: 0, sizeBytes: 16 * MiB, role: 'root', partitionNumber: 0 }]);
  });

  it('lays hybrid out in disk order, with the backup GPT as the tail', () => {
    const plan = planImage(options({ partitionTableType: 'hybrid', diskSize: 2048 }));
    expect(assemblyPieces(plan).map((piece) => [piece.kind, piece.partitionNumber, piece.offsetBytes / 512, piece.sizeBytes / 512])).toEqual([
      ['head', undefined, 0, 34],
      ['partition', 2, 34, 2015],
      ['zero', undefined, 2049, 16384 - 2049],
      ['partition', 1, 16384, 526336 - 16384],
      ['partition', 3, 526336, 4192256 - 526336],
      ['zero', undefined, 4192256, 4194304 - 33 - 4192256],
      ['tail', undefined, 4194304 - 33, 33],
    ]);
  });

  it('ends legacy with its root partition: no tail on msdos', () => {
    const plan = planImage(options({ partitionTableType: 'legacy', diskSize: 64 }));
    expect(assemblyPieces(plan).map((piece) => piece.kind)).toEqual(['head', 'partition']);
  });
});
