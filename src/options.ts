/**
 * The typed arguments of nixpkgs' make-disk-image.nix after defaults: the value that
 * crosses from evaluation (static or through Nix) into the image pipeline. The schema
 * with defaults, docs and rules lives in src/analysis/schema.ts.
 */

export const PARTITION_TABLE_TYPES = ['none', 'legacy', 'legacy+boot', 'legacy+gpt', 'efi', 'efixbootldr', 'hybrid'] as const;
export type PartitionTableType = (typeof PARTITION_TABLE_TYPES)[number];

export const KNOWN_FORMATS = ['raw', 'qcow2', 'qcow2-compressed', 'vdi', 'vpc'] as const;

export interface ContentsEntry {
  source: string;
  target: string;
  mode?: string;
  user?: string;
  group?: string;
}

export interface ImageOptions {
  name: string;
  baseName: string;
  /** raw, qcow2, qcow2-compressed, vdi, vpc, or any other qemu-img output format. */
  format: string;
  /** MiB, or "auto". */
  diskSize: 'auto' | number;
  /** IEC size string, e.g. "512M". */
  additionalSpace: string;
  /** IEC size string; where the boot partition ends (see FACTS §3.4). */
  bootSize: string;
  partitionTableType: PartitionTableType;
  fsType: string;
  label: string;
  onlyNixStore: boolean;
  installBootLoader: boolean;
  touchEFIVars: boolean;
  deterministic: boolean;
  rootGPUID: string;
  rootFSUID: string | null;
  copyChannel: boolean;
  contents: ContentsEntry[];
  /** Store paths (already realised when they reach the image pipeline). */
  additionalPaths: string[];
  postVM: string;
  memSize: number;
  configFile: string | null;
  efiFirmware: string | null;
  efiVariables: string | null;
}

/** The extension nixpkgs gives the image file for a format. */
export function formatExtension(format: string): string {
  switch (format) {
    case 'raw':
      return 'img';
    case 'qcow2':
    case 'qcow2-compressed':
      return 'qcow2';
    case 'vpc':
      return 'vhd';
    default:
      return format;
  }
}

/** The format qemu-img is asked for: qcow2-compressed is qcow2 with `-c`. */
export function qemuFormat(format: string): string {
  return format === 'qcow2-compressed' ? 'qcow2' : format;
}

export function imageFileName(options: Pick<ImageOptions, 'baseName' | 'format'>): string {
  return `${options.baseName}.${formatExtension(options.format)}`;
}
