/**
 * What a partition table holds, as the layouts place it and the table writers (MBR,
 * GPT) encode it: its own module below both, so the image plan and the layouts that
 * compute it need not import each other.
 */
/** What a partition is for; decides its filesystem and, later, its bootloader role. */
export type PartitionRole = 'root' | 'esp' | 'xbootldr' | 'bios-boot' | 'boot';

export interface PartitionPlan {
  /** Partition number as parted numbers it (GPT entry slot = number). */
  number: number;
  role: PartitionRole;
  /** GPT partition name (UTF-16LE in the entry); empty for MBR. */
  name: string;
  /** GPT type GUID, upper-case canonical form, or undefined on MBR. */
  typeGuid?: string;
  /** GPT unique partition GUID (deterministic ones per FACTS §3.5). */
  uniqueGuid?: string;
  /** MBR type byte, on MBR tables. */
  mbrType?: number;
  /** MBR active flag. */
  bootable: boolean;
  /** Inclusive sector range, 512-byte sectors. */
  firstSector: number;
  lastSector: number;
}

export interface TablePlan {
  kind: 'none' | 'mbr' | 'gpt';
  /** GPT disk GUID, canonical form. */
  diskGuid?: string;
  /** MBR disk signature at 0x1B8 (pinned when deterministic). */
  mbrSignature?: number;
  partitions: PartitionPlan[];
}
