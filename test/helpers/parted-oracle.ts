/**
 * parted + sgdisk as the oracle for partition tables: nixpkgs' own partitioning
 * commands (make-disk-image.nix V2025), transcribed independently of
 * src/image/table/layouts.ts, run on a blank file of the same size.
 */
import { open } from 'node:fs/promises';
import { execa } from 'execa';
import type { PartitionTableType } from '../../src/options.js';

export const env = { PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
export const ROOT_GPUID = 'F222513B-DED1-49FA-B591-20CE86A2FE7F';
const DISK_GUID_ARG = '97FD5997-D90B-4AA3-8D16-C1723AEA73C';
const P1 = '1C06F03B-704E-4657-B9CD-681A087A2FDC';
const P2 = '970C694F-AFD0-4B99-B750-CDB7A329AB6F';

/** nixpkgs' partitionDiskScript (V2025), transcribed independently of src/image/table/layouts.ts. */
export function nixpkgsCommands(type: PartitionTableType, bootSizeMiB: string, rootGPUID: string): { parted: string[]; sgdisk?: string[] } {
  const b = bootSizeMiB;
  switch (type) {
    case 'legacy':
      return { parted: ['mklabel', 'msdos', 'mkpart', 'primary', 'ext4', '1MiB', '100%'] };
    case 'legacy+boot':
      return { parted: ['mklabel', 'msdos', 'mkpart', 'primary', 'fat32', '1MiB', b, 'set', '1', 'boot', 'on', 'mkpart', 'primary', 'ext4', b, '100%'] };
    case 'legacy+gpt':
      return {
        parted: ['mklabel', 'gpt', 'mkpart', 'no-fs', '1MiB', '2MiB', 'set', '1', 'bios_grub', 'on', 'mkpart', 'primary', 'ext4', '2MiB', '100%', 'align-check', 'optimal', '2'],
        sgdisk: [`--disk-guid=${DISK_GUID_ARG}`, `--partition-guid=1:${P1}`, `--partition-guid=2:${P2}`, `--partition-guid=3:${rootGPUID}`],
      };
    case 'efi':
      return {
        parted: ['mklabel', 'gpt', 'mkpart', 'ESP', 'fat32', '8MiB', b, 'set', '1', 'boot', 'on', 'align-check', 'optimal', '1', 'mkpart', 'primary', 'ext4', b, '100%', 'align-check', 'optimal', '2'],
        sgdisk: [`--disk-guid=${DISK_GUID_ARG}`, `--partition-guid=1:${P1}`, `--partition-guid=2:${rootGPUID}`],
      };
    case 'efixbootldr':
      return {
        parted: ['mklabel', 'gpt', 'mkpart', 'ESP', 'fat32', '8MiB', '100MiB', 'set', '1', 'boot', 'on', 'align-check', 'optimal', '1', 'mkpart', 'BOOT', 'fat32', '100MiB', b, 'set', '2', 'bls_boot', 'on', 'align-check', 'optimal', '2', 'mkpart', 'ROOT', 'ext4', b, '100%', 'align-check', 'optimal', '3'],
        sgdisk: [`--disk-guid=${DISK_GUID_ARG}`, `--partition-guid=1:${P1}`, `--partition-guid=2:${P2}`, `--partition-guid=3:${rootGPUID}`],
      };
    case 'hybrid':
      return {
        parted: ['mklabel', 'gpt', 'mkpart', 'ESP', 'fat32', '8MiB', b, 'set', '1', 'boot', 'on', 'align-check', 'optimal', '1', 'mkpart', 'no-fs', '0', '1024KiB', 'set', '2', 'bios_grub', 'on', 'mkpart', 'primary', 'ext4', b, '100%', 'align-check', 'optimal', '3'],
        sgdisk: [`--disk-guid=${DISK_GUID_ARG}`, `--partition-guid=1:${P1}`, `--partition-guid=2:${P2}`, `--partition-guid=3:${rootGPUID}`],
      };
    case 'none':
      throw new Error('none has no table');
  }
}

export async function blankFile(path: string, totalSectors: number): Promise<void> {
  const handle = await open(path, 'w');
  await handle.truncate(totalSectors * 512);
  await handle.close();
}

export interface SfdiskTable {
  label: string;
  id: string;
  firstlba?: number;
  lastlba?: number;
  partitions: Record<string, unknown>[];
}

export async function sfdiskJson(path: string): Promise<SfdiskTable> {
  const { stdout } = await execa('sfdisk', ['--json', path], { env });
  const table = JSON.parse(stdout).partitiontable;
  delete table.device;
  for (const partition of table.partitions) partition.node = String(partition.node).slice(path.length);
  return table;
}


/** The table parted and sgdisk write for nixpkgs' commands on a blank disk of `totalSectors`. */
export async function partedReference(file: string, type: PartitionTableType, totalSectors: number, bootEndMiB: number, rootGPUID: string): Promise<SfdiskTable> {
  await blankFile(file, totalSectors);
  const commands = nixpkgsCommands(type, `${bootEndMiB}MiB`, rootGPUID);
  await execa('parted', ['--script', '-a', 'optimal', file, '--', ...commands.parted], { env });
  if (commands.sgdisk) await execa('sgdisk', [...commands.sgdisk, file], { env });
  return sfdiskJson(file);
}
