import { imageFileName, type ImageOptions, type PartitionTableType } from '../options.js';
import { formatBytes, MiB, parseIecSize, SECTOR } from '../units.js';
import {
  bootEndMiBFromBytes,
  type Entropy,
  GPT_TAIL_SECTORS,
  layoutPartitions,
  rootPartitionNumber,
  smallestDiskSectors,
  systemEntropy,
} from './table/layouts.js';
import type { PartitionRole, TablePlan } from './table/partition-table.js';

// The partition table's vocabulary is the plan's too: the stages take it from here.
export type { PartitionPlan, PartitionRole, TablePlan } from './table/partition-table.js';

/** The pure, complete description of an image: everything the stages need, nothing they must recompute. */
export interface ImagePlan {
  options: ImageOptions;
  partitionTableType: PartitionTableType;
  totalSectors: number;
  table: TablePlan;
  /** Number of the root partition, or 0 when the filesystem is the whole image. */
  rootPartition: number;
  /** Byte offset and size of the root filesystem inside the image. */
  rootOffsetBytes: number;
  rootSizeBytes: number;
  /** Output file name inside $out, e.g. nixos.qcow2. */
  imageFileName: string;
}

/** One byte range of the image, in order; the disk writer puts each piece's bytes (if any) at its place. */
export interface ImagePiece {
  /**
   * head: sector 0 up to the first partition (MBR, or protective MBR + primary GPT, then
   * zeros); partition: one partition's bytes (for `none`, the whole image); zero: a gap;
   * tail: the backup GPT in the last 33 sectors.
   */
  kind: 'head' | 'partition' | 'zero' | 'tail';
  offsetBytes: number;
  sizeBytes: number;
  role?: PartitionRole;
  partitionNumber?: number;
}

export class PlanError extends Error {
  override name = 'PlanError';
}

/** `$bootSizeMiB` of make-disk-image: where the boot partition ends and root starts, in MiB. */
export function bootEndMiB(bootSize: string): number {
  return bootEndMiBFromBytes(iecOption('bootSize', bootSize));
}

function iecOption(name: string, text: string): number {
  const bytes = parseIecSize(text);
  if (bytes === null) {
    throw new PlanError(`${name} "${text}" is not a size numfmt --from=iec reads: use digits with an optional K, M, G or T suffix, e.g. "512M"`);
  }
  return bytes;
}

/** additionalSpace in bytes: what the root filesystem keeps free beyond the closure. */
export function additionalSpaceBytes(options: Pick<ImageOptions, 'additionalSpace'>): number {
  return iecOption('additionalSpace', options.additionalSpace);
}

/**
 * The disk size in sectors.
 *
 * An integer diskSize is MiB, as `truncate -s <n>M`. For "auto", nixdisk knows the exact
 * size of the root filesystem (measured by the filesystem's own tool so that the closure
 * fits with additionalSpace still free, not estimated), so it adds no fudge and no
 * reserve on top: the disk is the smallest whole number of MiB whose root partition,
 * placed by the layout's own rules (boot partitions, alignment, backup GPT), holds
 * `filesystemBytes`. nixpkgs instead adds a per-layout reserve and rounds up a full
 * extra MiB (FACTS §5); its estimate was a bound on ext4 overhead, which an exact size
 * makes unnecessary.
 */
export function diskSectors(options: ImageOptions, filesystemBytes?: number): number {
  if (options.diskSize !== 'auto') {
    if (!Number.isSafeInteger(options.diskSize) || options.diskSize <= 0) {
      throw new PlanError(`diskSize must be a positive whole number of MiB or "auto", got ${options.diskSize}`);
    }
    return options.diskSize * (MiB / SECTOR);
  }
  if (filesystemBytes === undefined) {
    throw new PlanError('diskSize is "auto": the disk size follows from the root filesystem, which is known only while building');
  }
  return smallestDiskSectors(options.partitionTableType, filesystemBytes, iecOption('bootSize', options.bootSize));
}

/**
 * The whole image plan. `filesystemBytes` is the size the root filesystem needs (with
 * additionalSpace free inside it): required for diskSize = "auto", and checked against
 * the root partition for a fixed diskSize.
 */
export function planImage(options: ImageOptions, filesystemBytes?: number, entropy: Entropy = systemEntropy): ImagePlan {
  const totalSectors = diskSectors(options, filesystemBytes);
  const type = options.partitionTableType;
  const table = layoutPartitions(type, totalSectors, iecOption('bootSize', options.bootSize), options.rootGPUID, options.deterministic, entropy);
  const rootPartition = rootPartitionNumber(type);
  const root = table.partitions.find((partition) => partition.number === rootPartition);
  const rootOffsetBytes = root ? root.firstSector * SECTOR : 0;
  const rootSizeBytes = root ? (root.lastSector - root.firstSector + 1) * SECTOR : totalSectors * SECTOR;
  if (filesystemBytes !== undefined && rootSizeBytes < filesystemBytes) {
    throw new PlanError(
      `diskSize ${options.diskSize} MiB is too small: the root partition holds ${formatBytes(rootSizeBytes)}, the filesystem needs ${formatBytes(filesystemBytes)}; raise diskSize or use "auto"`,
    );
  }
  return {
    options,
    partitionTableType: type,
    totalSectors,
    table,
    rootPartition,
    rootOffsetBytes,
    rootSizeBytes,
    imageFileName: imageFileName(options),
  };
}

/** The image as ordered, gapless byte ranges from 0 to its size. */
export function assemblyPieces(plan: ImagePlan): ImagePiece[] {
  const totalBytes = plan.totalSectors * SECTOR;
  if (plan.table.kind === 'none') {
    return [{ kind: 'partition', offsetBytes: 0, sizeBytes: totalBytes, role: 'root', partitionNumber: 0 }];
  }
  const onDisk = [...plan.table.partitions].sort((a, b) => a.firstSector - b.firstSector);
  const pieces: ImagePiece[] = [];
  let cursor = 0;
  const zeroUpTo = (offset: number): void => {
    if (offset > cursor) pieces.push({ kind: 'zero', offsetBytes: cursor, sizeBytes: offset - cursor });
    cursor = Math.max(cursor, offset);
  };
  const headEnd = onDisk.length > 0 ? onDisk[0]!.firstSector * SECTOR : totalBytes;
  pieces.push({ kind: 'head', offsetBytes: 0, sizeBytes: headEnd });
  cursor = headEnd;
  for (const partition of onDisk) {
    zeroUpTo(partition.firstSector * SECTOR);
    const sizeBytes = (partition.lastSector - partition.firstSector + 1) * SECTOR;
    pieces.push({ kind: 'partition', offsetBytes: cursor, sizeBytes, role: partition.role, partitionNumber: partition.number });
    cursor += sizeBytes;
  }
  if (plan.table.kind === 'gpt') {
    const tailOffset = (plan.totalSectors - GPT_TAIL_SECTORS) * SECTOR;
    zeroUpTo(tailOffset);
    pieces.push({ kind: 'tail', offsetBytes: tailOffset, sizeBytes: totalBytes - tailOffset });
  } else {
    zeroUpTo(totalBytes);
  }
  return pieces;
}
