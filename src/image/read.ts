/**
 * Reading an image back without mounting it: its format, partition table and the
 * filesystems in it, by the same userspace tools a person would use (qemu-img info,
 * sfdisk --json, blkid -p).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { runTool, ToolFailedError } from '../tools.js';

export interface PartitionInfo {
  number: number;
  startBytes: number;
  sizeBytes: number;
  /** GPT type GUID or MBR type byte as sfdisk prints it. */
  type: string;
  name?: string;
  uuid?: string;
  bootable: boolean;
}

export interface FilesystemInfo {
  /** 0 when the filesystem is the whole disk. */
  partition: number;
  offsetBytes: number;
  sizeBytes: number;
  type: string;
  label?: string;
  uuid?: string;
}

export interface ImageInfo {
  file: string;
  format: string;
  virtualSizeBytes: number;
  table: { kind: 'none' | 'dos' | 'gpt'; id?: string; partitions: PartitionInfo[] };
  filesystems: FilesystemInfo[];
}

/** A raw view of the image: the file itself when it is raw, else a converted copy in `workDir`. */
export async function rawImage(file: string, workDir: string): Promise<{ raw: string; format: string; virtualSizeBytes: number }> {
  const { stdout } = await runTool('qemu-img', ['info', '--output=json', file]);
  const info = JSON.parse(stdout) as { format: string; 'virtual-size': number };
  // qemu-img calls any file raw (and rounds its size up to a sector); sfdisk's answer for
  // one shorter than a sector is a bare "Invalid argument".
  const bytes = info.format === 'raw' ? (await stat(file)).size : info['virtual-size'];
  if (bytes < 512) throw new Error(`${file} is not a disk image (${bytes} bytes, less than one sector)`);
  if (info.format === 'raw') return { raw: file, format: 'raw', virtualSizeBytes: info['virtual-size'] };
  const raw = path.join(workDir, 'disk.raw');
  await runTool('qemu-img', ['convert', '-O', 'raw', file, raw]);
  return { raw, format: info.format, virtualSizeBytes: info['virtual-size'] };
}

interface SfdiskJson {
  partitiontable: {
    label: 'dos' | 'gpt';
    id?: string;
    sectorsize?: number;
    partitions?: { node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }[];
  };
}

export async function readPartitionTable(raw: string): Promise<ImageInfo['table']> {
  let parsed: SfdiskJson;
  try {
    parsed = JSON.parse((await runTool('sfdisk', ['--json', raw])).stdout) as SfdiskJson;
  } catch (error) {
    // sfdisk fails on a disk without a recognised table: the filesystem is the whole disk.
    if (error instanceof ToolFailedError && /does not contain a recognized partition table/.test(error.output)) {
      return { kind: 'none', partitions: [] };
    }
    throw error;
  }
  const table = parsed.partitiontable;
  // A FAT boot sector ends in the MBR signature: sfdisk reads a whole-disk vfat as an
  // empty dos table, which lists no partitions at all.
  if (!table.partitions?.length) return { kind: 'none', partitions: [] };
  const sector = table.sectorsize ?? 512;
  return {
    kind: table.label,
    id: table.id,
    partitions: table.partitions.map((p) => ({
      number: Number(/(\d+)$/.exec(p.node)?.[1] ?? 0),
      startBytes: p.start * sector,
      sizeBytes: p.size * sector,
      type: p.type,
      name: p.name,
      uuid: p.uuid,
      bootable: p.bootable ?? false,
    })),
  };
}

/** What blkid finds at `offset`, or undefined where there is no filesystem signature. */
export async function probeFilesystem(raw: string, offsetBytes: number, sizeBytes: number): Promise<Omit<FilesystemInfo, 'partition'> | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await runTool('blkid', ['-p', '-O', String(offsetBytes), '-S', String(sizeBytes), '-o', 'export', raw], { debianPackage: 'util-linux' }));
  } catch (error) {
    if (error instanceof ToolFailedError && error.exitCode === 2) return undefined; // nothing found
    throw error;
  }
  const fields = Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  if (!fields.TYPE) return undefined;
  return { offsetBytes, sizeBytes, type: fields.TYPE, label: fields.LABEL, uuid: fields.UUID };
}

export async function inspectImage(file: string, workDir: string): Promise<ImageInfo & { raw: string }> {
  const { raw, format, virtualSizeBytes } = await rawImage(file, workDir);
  const table = await readPartitionTable(raw);
  const regions =
    table.kind === 'none'
      ? [{ partition: 0, offset: 0, size: virtualSizeBytes }]
      : table.partitions.map((p) => ({ partition: p.number, offset: p.startBytes, size: p.sizeBytes }));
  const filesystems: FilesystemInfo[] = [];
  for (const region of regions) {
    const found = await probeFilesystem(raw, region.offset, region.size);
    if (found) filesystems.push({ partition: region.partition, ...found });
  }
  return { file, raw, format, virtualSizeBytes, table, filesystems };
}
