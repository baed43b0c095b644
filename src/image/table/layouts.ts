/**
 * The partition layouts of nixpkgs' make-disk-image.nix (V2025, FACTS §3.4), as data: each
 * layout is the list of `mkpart` commands nixpkgs gives parted plus the GUIDs its `sgdisk`
 * step assigns, and one interpreter turns any of them into sectors the way parted 3.5 does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { PartitionTableType } from '../../options.js';
import { formatBytes, MiB, SECTOR } from '../../units.js';
import type { PartitionPlan, PartitionRole, TablePlan } from './partition-table.js';
import { parseGuidAsSgdisk } from './guid.js';

export const SECTORS_PER_MIB = MiB / SECTOR;
/** LBA 0 (protective MBR), LBA 1 (header), LBAs 2..33 (128 entries of 128 bytes). */
export const GPT_HEAD_SECTORS = 34;
/** The backup entry array (32 sectors) and the backup header at N-1. */
export const GPT_TAIL_SECTORS = 33;
const MBR_MAX_SECTORS = 0xffffffff;

export const GPT_TYPE = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172',
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  linuxFilesystem: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
} as const;

/** A partition boundary as nixpkgs writes it on parted's command line. */
export type PartedPosition =
  | { unit: 'MiB'; value: number } // e.g. `8MiB`
  | { unit: 'KiB'; value: number } // e.g. `1024KiB`
  | { unit: 'bootSizeMiB' } // `$bootSizeMiB`, B MiB
  | { unit: 'zero' } // `0`
  | { unit: 'full' }; // `100%`

const mib = (value: number): PartedPosition => ({ unit: 'MiB', value });
const kib = (value: number): PartedPosition => ({ unit: 'KiB', value });
const BOOT_SIZE: PartedPosition = { unit: 'bootSizeMiB' };
const ZERO: PartedPosition = { unit: 'zero' };
const FULL: PartedPosition = { unit: 'full' };

/** One `mkpart` (plus its `set N flag on`), numbered by its position in the list. */
interface PartitionSpec {
  role: PartitionRole;
  /** The mkpart name: stored as the GPT partition name (msdos has no names). */
  name: string;
  /** GPT type GUID that parted's flags give (boot → ESP, bls_boot → XBOOTLDR, bios_grub → BIOS boot). */
  typeGuid?: string;
  /** MBR type byte: `fat32` with `boot on` becomes 0x0C because parted also sets `lba`; ext4 is 0x83. */
  mbrType?: number;
  /** msdos `set N boot on`: the active flag (status 0x80). */
  active?: boolean;
  start: PartedPosition;
  end: PartedPosition;
}

interface LayoutSpec {
  table: TablePlan['kind'];
  partitions: PartitionSpec[];
  /**
   * The `--partition-guid=N:…` arguments of nixpkgs' deterministic sgdisk step, by N.
   * 'rootGPUID' stands for the argument. Numbers without a partition are ignored by
   * sgdisk (legacy+gpt names a partition 3 that does not exist), and so are they here.
   */
  sgdiskPartitionGuids?: (string | 'rootGPUID')[];
}

/** nixpkgs' deterministic `--disk-guid`: 35 characters, parsed by sgdisk as FACTS §3.5 explains. */
export const NIXPKGS_DISK_GUID_ARGUMENT = '97FD5997-D90B-4AA3-8D16-C1723AEA73C';
const ESP_GUID = '1C06F03B-704E-4657-B9CD-681A087A2FDC';
const SECOND_GUID = '970C694F-AFD0-4B99-B750-CDB7A329AB6F';

const ESP: Omit<PartitionSpec, 'start' | 'end'> = { role: 'esp', name: 'ESP', typeGuid: GPT_TYPE.esp };
const BIOS_BOOT: Omit<PartitionSpec, 'start' | 'end'> = { role: 'bios-boot', name: 'no-fs', typeGuid: GPT_TYPE.biosBoot };
const GPT_ROOT: Omit<PartitionSpec, 'start' | 'end'> = { role: 'root', name: 'primary', typeGuid: GPT_TYPE.linuxFilesystem };

export const LAYOUTS: Record<PartitionTableType, LayoutSpec> = {
  none: { table: 'none', partitions: [] },
  legacy: {
    table: 'mbr',
    partitions: [{ role: 'root', name: '', mbrType: 0x83, start: mib(1), end: FULL }],
  },
  'legacy+boot': {
    table: 'mbr',
    partitions: [
      { role: 'boot', name: '', mbrType: 0x0c, active: true, start: mib(1), end: BOOT_SIZE },
      { role: 'root', name: '', mbrType: 0x83, start: BOOT_SIZE, end: FULL },
    ],
  },
  'legacy+gpt': {
    table: 'gpt',
    partitions: [
      { ...BIOS_BOOT, start: mib(1), end: mib(2) },
      { ...GPT_ROOT, start: mib(2), end: FULL },
    ],
    sgdiskPartitionGuids: [ESP_GUID, SECOND_GUID, 'rootGPUID'],
  },
  efi: {
    table: 'gpt',
    partitions: [
      { ...ESP, start: mib(8), end: BOOT_SIZE },
      { ...GPT_ROOT, start: BOOT_SIZE, end: FULL },
    ],
    sgdiskPartitionGuids: [ESP_GUID, 'rootGPUID'],
  },
  efixbootldr: {
    table: 'gpt',
    partitions: [
      { ...ESP, start: mib(8), end: mib(100) },
      { role: 'xbootldr', name: 'BOOT', typeGuid: GPT_TYPE.xbootldr, start: mib(100), end: BOOT_SIZE },
      { ...GPT_ROOT, name: 'ROOT', start: BOOT_SIZE, end: FULL },
    ],
    sgdiskPartitionGuids: [ESP_GUID, SECOND_GUID, 'rootGPUID'],
  },
  hybrid: {
    table: 'gpt',
    partitions: [
      { ...ESP, start: mib(8), end: BOOT_SIZE },
      // `mkpart no-fs 0 1024KiB`: first on disk, second in number, and not aligned.
      { ...BIOS_BOOT, start: ZERO, end: kib(1024) },
      { ...GPT_ROOT, start: BOOT_SIZE, end: FULL },
    ],
    sgdiskPartitionGuids: [ESP_GUID, SECOND_GUID, 'rootGPUID'],
  },
};

/**
 * The partition that bootSize ends, with where it starts in MiB and what nixpkgs calls
 * it, for layouts that have one (the static rules check bootSize against it).
 */
export function bootSizedPartition(type: PartitionTableType): { startMiB: number; name: string } | undefined {
  const spec = LAYOUTS[type].partitions.find((partition) => partition.end.unit === 'bootSizeMiB');
  if (!spec || spec.start.unit !== 'MiB') return undefined;
  return { startMiB: spec.start.value, name: spec.role === 'esp' ? 'ESP' : 'BOOT partition' };
}

export class LayoutError extends Error {
  override name = 'LayoutError';
}

/** Where random identifiers come from when `deterministic = false` (parted's own behaviour). */
export interface Entropy {
  guid(): string;
  mbrSignature(): number;
}

export const systemEntropy: Entropy = {
  guid: () => randomUUID().toUpperCase(),
  mbrSignature: () => randomBytes(4).readUInt32LE(0),
};

/**
 * B, the MiB at which the boot partition ends and the root partition starts, from
 * `bootSize` as make-disk-image computes `$bootSizeMiB`: `round_to_nearest` of the IEC
 * value always adds a step, so "256M" gives 257.
 */
export function bootEndMiBFromBytes(bootSizeBytes: number): number {
  if (!Number.isSafeInteger(bootSizeBytes) || bootSizeBytes < 0) {
    throw new LayoutError(`bootSize must be a whole, non-negative number of bytes, got ${bootSizeBytes}`);
  }
  return Math.floor(bootSizeBytes / MiB) + 1;
}

export function rootPartitionNumber(type: PartitionTableType): number {
  return LAYOUTS[type].partitions.findIndex((partition) => partition.role === 'root') + 1;
}

interface Geometry {
  table: TablePlan['kind'];
  totalSectors: number;
  bootEndMiB: number;
}

function firstUsableSector(geometry: Geometry): number {
  return geometry.table === 'gpt' ? GPT_HEAD_SECTORS : 1;
}

function lastUsableSector(geometry: Geometry): number {
  return geometry.table === 'gpt' ? geometry.totalSectors - GPT_TAIL_SECTORS - 1 : geometry.totalSectors - 1;
}

function startSector(position: PartedPosition, geometry: Geometry): number {
  switch (position.unit) {
    case 'MiB':
      return position.value * SECTORS_PER_MIB;
    case 'KiB':
      return (position.value * 1024) / SECTOR;
    case 'bootSizeMiB':
      return geometry.bootEndMiB * SECTORS_PER_MIB;
    case 'zero':
      // parted clamps a start before the first usable sector to it.
      return firstUsableSector(geometry);
    case 'full':
      throw new LayoutError('100% is not a start position');
  }
}

function endSector(position: PartedPosition, geometry: Geometry): number {
  switch (position.unit) {
    // parted 3.5 ends a partition one sector before a MiB boundary, but exactly on a KiB one.
    case 'MiB':
      return position.value * SECTORS_PER_MIB - 1;
    case 'KiB':
      return (position.value * 1024) / SECTOR;
    case 'bootSizeMiB':
      return geometry.bootEndMiB * SECTORS_PER_MIB - 1;
    case 'full':
      return fullEndSector(geometry);
    case 'zero':
      throw new LayoutError('0 is not an end position');
  }
}

/**
 * Where parted ends `100%` under `--align optimal`. A percentage is not exact: parted
 * accepts any end within about half a percent of the disk before the nominal last
 * sector and prefers one where the next partition would be 1 MiB aligned. On msdos the
 * last sector itself is aligned. On GPT the aligned end is 2048 sectors before the last
 * sector (the backup GPT is in the way), so parted uses it only on disks where half a
 * percent exceeds 2048 sectors, from 201 MiB up (measured: 200 MiB ends at N-34, 201 MiB
 * at N-2049); smaller disks end at the last usable sector, and on disks under 4 MiB even
 * that is out of range, which parted in script mode refuses.
 */
function fullEndSector(geometry: Geometry): number {
  const lastUsable = lastUsableSector(geometry);
  const nominal = geometry.totalSectors - 1;
  const percentSectors = Math.ceil(Math.floor((geometry.totalSectors * SECTOR) / 100) / SECTOR);
  const earliest = nominal - (Math.floor(percentSectors / 2) - 1);
  const aligned = Math.floor((lastUsable + 1) / SECTORS_PER_MIB) * SECTORS_PER_MIB - 1;
  if (aligned >= earliest) return aligned;
  if (lastUsable >= earliest) return lastUsable;
  throw new LayoutError(
    `parted cannot end a partition at 100% of a ${formatBytes(geometry.totalSectors * SECTOR)} disk with a GPT (the last usable sector ${lastUsable} is too far from the end): make the disk larger`,
  );
}

function describePosition(position: PartedPosition, geometry: Geometry): string {
  switch (position.unit) {
    case 'MiB':
    case 'KiB':
      return `${position.value}${position.unit}`;
    case 'bootSizeMiB':
      return `bootSize (${geometry.bootEndMiB} MiB)`;
    case 'zero':
      return 'the start of the disk';
    case 'full':
      return 'the end of the disk';
  }
}

function checkTotalSectors(totalSectors: number): void {
  if (!Number.isSafeInteger(totalSectors) || totalSectors <= 0 || totalSectors % SECTORS_PER_MIB !== 0) {
    throw new LayoutError(
      `the disk must be a positive whole number of MiB (nixpkgs' sizes always are), got ${totalSectors} sectors`,
    );
  }
}

/**
 * The partition table nixpkgs' parted (and, when deterministic, sgdisk) commands create
 * for a layout on a disk of `totalSectors` 512-byte sectors. `bootSizeBytes` is the IEC
 * value of `bootSize`. Throws a LayoutError when parted would refuse the layout.
 */
export function layoutPartitions(
  type: PartitionTableType,
  totalSectors: number,
  bootSizeBytes: number,
  rootGPUID: string,
  deterministic = true,
  entropy: Entropy = systemEntropy,
): TablePlan {
  const layout = LAYOUTS[type];
  const partitions = placePartitions(type, totalSectors, bootSizeBytes);

  if (layout.table === 'gpt') {
    const sgdiskGuids = layout.sgdiskPartitionGuids ?? [];
    for (const partition of partitions) {
      const argument = sgdiskGuids[partition.number - 1];
      partition.uniqueGuid =
        deterministic && argument !== undefined
          ? parseGuidAsSgdisk(argument === 'rootGPUID' ? rootGPUID : argument)
          : entropy.guid();
    }
    const diskGuid = deterministic ? parseGuidAsSgdisk(NIXPKGS_DISK_GUID_ARGUMENT) : entropy.guid();
    return { kind: 'gpt', diskGuid, partitions };
  }
  if (layout.table === 'mbr') {
    return { kind: 'mbr', mbrSignature: deterministic ? pinnedMbrSignature(rootGPUID) : entropy.mbrSignature(), partitions };
  }
  return { kind: 'none', partitions };
}

/** Where parted puts each partition of the layout (no identities yet), or why it refuses. */
function placePartitions(type: PartitionTableType, totalSectors: number, bootSizeBytes: number): PartitionPlan[] {
  checkTotalSectors(totalSectors);
  const layout = LAYOUTS[type];
  const geometry: Geometry = { table: layout.table, totalSectors, bootEndMiB: bootEndMiBFromBytes(bootSizeBytes) };
  const partitions = layout.partitions.map((spec, index) => placePartition(spec, index + 1, geometry));
  // A bootSize that empties a boot partition is wrong on any disk: report it before the disk's size.
  const placed = layout.partitions.map((spec, index) => ({ spec, partition: partitions[index]! }));
  for (const { spec, partition } of placed) if (spec.end.unit !== 'full') checkNotEmpty(type, spec, partition, geometry);
  for (const { spec, partition } of placed) {
    checkNotEmpty(type, spec, partition, geometry);
    checkInsideTable(type, spec, partition, geometry);
  }
  checkOverlaps(type, partitions);
  return partitions;
}

/**
 * parted writes a random MBR disk signature, which nixpkgs never pins. Linux names MBR
 * partitions by it (PARTUUID=SSSSSSSS-PP), so nixdisk derives it from the knob that
 * already names the root partition on GPT layouts: the first field of rootGPUID (as
 * sgdisk would read it). The default gives PARTUUID=f222513b-01 for legacy's root, and
 * images built with different rootGPUIDs get different signatures.
 */
export function pinnedMbrSignature(rootGPUID: string): number {
  return parseInt(parseGuidAsSgdisk(rootGPUID).slice(0, 8), 16);
}

function placePartition(spec: PartitionSpec, number: number, geometry: Geometry): PartitionPlan {
  return {
    number,
    role: spec.role,
    name: spec.name,
    typeGuid: spec.typeGuid,
    mbrType: spec.mbrType,
    bootable: spec.active ?? false,
    firstSector: startSector(spec.start, geometry),
    lastSector: endSector(spec.end, geometry),
  };
}

function diskTooSmall(type: PartitionTableType, geometry: Geometry): string {
  const needed = smallestFittingDisk(type, 1, geometry.bootEndMiB) * SECTOR;
  const usesBootSize = LAYOUTS[type].partitions.some((p) => p.end.unit === 'bootSizeMiB');
  return `the ${formatBytes(geometry.totalSectors * SECTOR)} disk is too small for this layout${
    usesBootSize ? ` with bootSize ending at ${geometry.bootEndMiB} MiB` : ''
  }; it needs at least ${formatBytes(needed)}`;
}

function checkNotEmpty(type: PartitionTableType, spec: PartitionSpec, partition: PartitionPlan, geometry: Geometry): void {
  const { firstSector, lastSector } = partition;
  if (lastSector < firstSector) {
    const hint =
      spec.end.unit === 'full'
        ? diskTooSmall(type, geometry)
        : spec.end.unit === 'bootSizeMiB'
          ? `bootSize must end after ${describePosition(spec.start, geometry)}: raise bootSize to at least ${
              startSector(spec.start, geometry) / SECTORS_PER_MIB
            }M`
          : `${describePosition(spec.start, geometry)} is after ${describePosition(spec.end, geometry)}`;
    throw new LayoutError(`${type}: partition ${partition.number} (${spec.role}) would be empty (sectors ${firstSector}..${lastSector}): ${hint}`);
  }
}

function checkInsideTable(type: PartitionTableType, spec: PartitionSpec, partition: PartitionPlan, geometry: Geometry): void {
  const { firstSector, lastSector } = partition;
  const what = `${type}: partition ${partition.number} (${spec.role})`;
  if (lastSector > lastUsableSector(geometry)) {
    throw new LayoutError(
      `${what} would end at sector ${lastSector}, past the last usable sector ${lastUsableSector(geometry)}: ${diskTooSmall(type, geometry)}`,
    );
  }
  const sectors = lastSector - firstSector + 1;
  if (geometry.table === 'mbr' && (firstSector > MBR_MAX_SECTORS || sectors > MBR_MAX_SECTORS)) {
    throw new LayoutError(
      `${what} spans sectors ${firstSector}..${lastSector}, beyond what an msdos table can address (2 TiB): use a GPT layout or a smaller disk`,
    );
  }
}

function checkOverlaps(type: PartitionTableType, partitions: PartitionPlan[]): void {
  const byStart = [...partitions].sort((a, b) => a.firstSector - b.firstSector);
  for (let i = 1; i < byStart.length; i++) {
    const before = byStart[i - 1]!;
    const after = byStart[i]!;
    if (after.firstSector <= before.lastSector) {
      throw new LayoutError(
        `${type}: partition ${after.number} (${after.role}) starts at sector ${after.firstSector}, inside partition ${before.number} (${before.role}) which ends at ${before.lastSector}: check bootSize`,
      );
    }
  }
}

/**
 * The smallest disk, in sectors and a whole number of MiB (as nixpkgs' sizes always are),
 * whose root partition holds at least `rootBytesNeeded` bytes under this layout. For
 * `none` the filesystem is the whole disk. Throws when no disk size can satisfy the
 * layout (a bootSize that leaves a boot partition empty).
 */
export function smallestDiskSectors(type: PartitionTableType, rootBytesNeeded: number, bootSizeBytes: number): number {
  if (!Number.isSafeInteger(rootBytesNeeded) || rootBytesNeeded < 0) {
    throw new LayoutError(`the root filesystem size must be a whole, non-negative number of bytes, got ${rootBytesNeeded}`);
  }
  const totalSectors = smallestFittingDisk(type, Math.max(1, Math.ceil(rootBytesNeeded / SECTOR)), bootEndMiBFromBytes(bootSizeBytes));
  placePartitions(type, totalSectors, bootSizeBytes);
  return totalSectors;
}

function smallestFittingDisk(type: PartitionTableType, neededSectors: number, bootEndMiB: number): number {
  const layout = LAYOUTS[type];
  const rootSpec = layout.partitions.find((partition) => partition.role === 'root');
  if (rootSpec === undefined) return Math.ceil(neededSectors / SECTORS_PER_MIB) * SECTORS_PER_MIB;
  const geometryOf = (totalSectors: number): Geometry => ({ table: layout.table, totalSectors, bootEndMiB });
  const rootStart = startSector(rootSpec.start, geometryOf(0));
  const rootSectorsOn = (totalSectors: number): number => {
    try {
      return endSector(rootSpec.end, geometryOf(totalSectors)) - rootStart + 1;
    } catch (error) {
      if (error instanceof LayoutError) return 0;
      throw error;
    }
  };
  // The root partition never reaches into the backup GPT, so no smaller disk can do; the
  // aligned `100%` end may cost more (see fullEndSector), so step up from that bound
  // rather than invert parted's rule.
  const trailer = layout.table === 'gpt' ? GPT_TAIL_SECTORS : 0;
  let totalSectors = Math.ceil((rootStart + neededSectors + trailer) / SECTORS_PER_MIB) * SECTORS_PER_MIB;
  while (rootSectorsOn(totalSectors) < neededSectors) totalSectors += SECTORS_PER_MIB;
  return totalSectors;
}
