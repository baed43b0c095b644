/**
 * Writes a disk image in one pass: every part (table bytes, boot partitions, the root
 * filesystem) writes its own bytes at its own place in the output file, raw, qcow2, VDI
 * or VHD, through a HostMap. Nothing is written twice, and nothing is read back but the
 * small files the partition tools made.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { createSparseFile } from '../fs/common.js';
import { identityMap, mergedRanges, windowOf, writeMapped, type ByteRange, type HostMap, type MappedTarget } from './host-map.js';
import { createContainerFile, type ContainerLayout, type ImageIdentity } from './container.js';
import { layOutQcow2 } from './qcow2.js';
import { layOutVdi } from './vdi.js';
import { layOutVhd } from './vhd.js';
import { copyRanges, dataRanges } from './sparse-copy.js';

/** Bytes of the disk from `offsetBytes` on, for `sizeBytes`. */
export interface DiskPart {
  offsetBytes: number;
  sizeBytes: number;
  /** The byte ranges, from the part's start, that `writeTo` writes. */
  ranges(): Promise<ByteRange[]>;
  /** Writes the part through `target`, whose map has the part's first byte at guest offset 0. */
  writeTo(target: MappedTarget): Promise<void>;
}

/** The file formats whose blocks nixdisk places before writing any data ('vpc' is VHD, by qemu's name). */
export type Container = 'raw' | 'qcow2' | 'vdi' | 'vpc';

const LAYOUTS: Record<Exclude<Container, 'raw'>, (diskBytes: number, used: ByteRange[], identity: ImageIdentity) => ContainerLayout> = {
  qcow2: (diskBytes, used) => layOutQcow2(diskBytes, used),
  vdi: layOutVdi,
  vpc: layOutVhd,
};

/**
 * How an image of `format` is written: in one pass into its container; or as a raw disk
 * that nixdisk deflates into a qcow2 ('deflate'); or as a raw disk that qemu-img converts
 * (zstd compression: Node 20 has no zstd, and no maintained npm binding installs without
 * downloading a prebuilt binary from outside the registry).
 */
export type ImageRoute = { kind: 'one-pass'; container: Container } | { kind: 'deflate' } | { kind: 'qemu-img' };

export function imageRoute(format: string, compression: 'zlib' | 'zstd'): ImageRoute {
  if (format === 'raw' || format === 'qcow2' || format === 'vdi' || format === 'vpc') return { kind: 'one-pass', container: format };
  if (format === 'qcow2-compressed' && compression === 'zlib') return { kind: 'deflate' };
  return { kind: 'qemu-img' };
}

/** `identity` pins the VDI and VHD identities (null: random ones); raw and qcow2 have none. */
export async function writeDisk(output: string, container: Container, diskBytes: number, parts: readonly DiskPart[], identity: ImageIdentity = null): Promise<void> {
  let map: HostMap;
  if (container === 'raw') {
    await createSparseFile(output, diskBytes);
    map = identityMap(diskBytes);
  } else {
    const used: ByteRange[] = [];
    for (const part of parts) used.push(...mergedRanges(await part.ranges(), part.offsetBytes));
    const layout = LAYOUTS[container](diskBytes, used, identity);
    await createContainerFile(output, layout);
    map = layout.map;
  }
  for (const part of parts) await part.writeTo({ path: output, map: windowOf(map, part.offsetBytes, part.sizeBytes) });
}

/** Bytes known in memory: a partition table. */
export function bytesPart(offsetBytes: number, sizeBytes: number, bytes: Buffer): DiskPart {
  if (bytes.length > sizeBytes) throw new Error(`internal: ${bytes.length} bytes do not fit a ${sizeBytes}-byte part of the disk`);
  return {
    offsetBytes,
    sizeBytes,
    ranges: async () => [[0, bytes.length]],
    writeTo: async (target) => {
      const fd = openSync(target.path, 'r+');
      try {
        writeMapped({ writeSync }, fd, target.map, bytes, 0, bytes.length, 0);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** A complete file a tool made (a FAT boot partition, a filesystem nixdisk does not fill itself): its blocks that are not zeros. */
export function filePart(offsetBytes: number, sizeBytes: number, file: string): DiskPart {
  let data: Promise<ByteRange[]> | undefined;
  const ranges = () => (data ??= dataRanges(file, [[0, sizeBytes]]));
  return {
    offsetBytes,
    sizeBytes,
    ranges,
    writeTo: async (target) => {
      const found = await ranges();
      const fd = openSync(file, 'r');
      const targetFd = openSync(target.path, 'r+');
      try {
        await copyRanges(fd, found, targetFd, target.map);
      } finally {
        closeSync(targetFd);
        closeSync(fd);
      }
    },
  };
}
