/**
 * The seam between the full-image pipeline and the boot loaders: one handler per
 * loader (systemd-boot.ts, grub.ts, …) behind `installBootLoader`, which works as
 * `switch-to-configuration boot` would inside nixpkgs' build VM, without running the
 * system: it writes the files the loader's installer writes, into a host folder that
 * mirrors the installed system's paths, and names the bytes that belong outside every
 * filesystem (GRUB's BIOS boot code). The pipeline puts each file in the filesystem
 * mounted at its path (see `ImageMount`) and each byte range at its disk offset.
 */
import type { PartitionRole, TablePlan } from '../plan.js';
import type { PartitionTableType } from '../../options.js';

/** Where make-disk-image mounts a filesystem of the image while it installs (FACTS §6.5). */
export interface ImageMount {
  /** Absolute path in the installed system: `/`, `/boot`, `/efi`. */
  mountPoint: string;
  role: PartitionRole;
  /** Filesystem type as mount(8) names it: `ext4`, `vfat`. */
  fsType: string;
  /** The filesystem's identity as GRUB's `search --fs-uuid` and fstab's `UUID=` spell it (ext4 UUID, FAT `ABCD-1234`). */
  uuid: string;
  label: string;
}

/** What the pipeline knows before it sizes anything; enough to install a loader. */
export interface BootTarget {
  partitionTableType: PartitionTableType;
  /** The filesystems and where they are mounted, the root (`/`) first. */
  mounts: ImageMount[];
  /**
   * The partition table as planned. Only the boot partitions are read (GRUB's core image
   * goes to the BIOS boot partition or the gap before the first partition), and they lie
   * where the final plan puts them whatever size the disk ends up with.
   */
  table: Pick<TablePlan, 'kind' | 'partitions'>;
  /** `config.system.build.toplevel` as a store path; its `boot.json` (FACTS §7.1) names kernel, initrd, init, parameters. */
  toplevel: string;
  /** The configuration's loader settings, as nixlib/serialize-args.nix serializes `config` (opaque JSON here; the loader modules read it). */
  config: Record<string, unknown>;
  deterministic: boolean;
  /** Seconds since the epoch for pinned timestamps. */
  epoch: number;
  /** Scratch folder for the loader (removed by the pipeline). */
  workDir: string;
}

/** Bytes written at an absolute disk offset, outside every filesystem (MBR boot code, GRUB's core image). */
export interface DiskWrite {
  offsetBytes: number;
  bytes: Buffer;
}

/** A UEFI boot entry a real install adds to NVRAM when `boot.loader.efi.canTouchEfiVariables` is set (FACTS §8). */
export interface EfiBootEntry {
  description: string;
  /** Mount point of the FAT filesystem holding the loader, as in `ImageMount`. */
  espMountPoint: string;
  /** Path of the EFI binary on that filesystem, `\`-separated as UEFI writes it: `\EFI\systemd\systemd-bootx64.efi`. */
  loaderPath: string;
}

export interface BootInstallation {
  /** Host folder mirroring installed paths (`<treeDir>/boot/EFI/…`, `<treeDir>/boot/grub/grub.cfg`). */
  treeDir: string;
  diskWrites: DiskWrite[];
  efiBootEntries: EfiBootEntry[];
}
