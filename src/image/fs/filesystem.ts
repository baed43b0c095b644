import type { ByteRange, MappedTarget } from '../disk/host-map.js';
import type { TreeEntry } from './tree.js';

/**
 * One interface for every filesystem nixdisk writes into a file, one module per fsType
 * beside this file (ext4.ts, btrfs.ts, …), registered in index.ts.
 */

export interface FilesystemBuild {
  /** Directory whose contents become the filesystem root (never modified). */
  sourceDir: string;
  /**
   * Host paths that appear at the root beside sourceDir's entries, under their base
   * names, read where they are: the store paths of a store-only image, without staging
   * them. Only for filesystems with `readsGrafts`; the others get a staged sourceDir.
   */
  grafts?: readonly string[];
  /** The directory of the tree the grafts appear in ('' or absent: the root); a full image's `nix/store`. */
  graftDir?: string;
  /**
   * sourceDir and grafts as scanTree lists them, when the caller scanned them already
   * (a build sizes, then creates: one scan of ten thousand store files, not two).
   */
  tree?: readonly TreeEntry[];
  /** File to create; it must not exist yet. The module truncates it to `sizeBytes`. */
  output: string;
  sizeBytes: number;
  label: string;
  /**
   * Filesystem UUID/serial in the fsType's own notation (FS_TYPES' uuidNotation). null
   * means the tool's random one, or, when deterministic, a fixed one each module documents.
   */
  uuid: string | null;
  /** Pin every timestamp and seed so equal inputs give equal bytes. */
  deterministic: boolean;
  /** Seconds since the epoch that pinned timestamps take. */
  epoch: number;
}

/** How a filesystem is sized when the caller leaves the size to it. */
export interface Fit {
  /** Bytes that must stay free once the tree is in (make-disk-image's additionalSpace). */
  spareBytes: number;
  /**
   * Rounds a needed size up to one the caller can give it (the root partition the disk
   * layout would make); absent: up to a multiple of 4096.
   */
  sizeFor?: (neededBytes: number) => number;
  /** Where scratch builds go; each is removed when done. */
  workDir: string;
}

/** A build whose size is given, or left to the filesystem to fit. */
export type FilesystemRequest = Omit<FilesystemBuild, 'sizeBytes'> & { sizeBytes: number | Fit };

export interface Filesystem {
  fsType: string;
  /** Whether it reads FilesystemBuild.grafts in place (else the caller stages them into sourceDir). */
  readsGrafts?: true;
  /** External commands it runs, with the Debian package that ships each (for setup and errors). */
  tools: { command: string; debianPackage: string }[];
  /**
   * The smallest size (a multiple of 4096, as `fit.sizeFor` rounds it) at which `write`
   * succeeds for this tree with `fit.spareBytes` still free: from the real tool, or from
   * nixdisk's own exact layout (ext4), never a fudge factor. Leaves nothing behind.
   */
  size(build: Omit<FilesystemBuild, 'output' | 'sizeBytes'>, fit: Fit): Promise<number>;
  /**
   * Writes the filesystem into `request.output`, at `sizeBytes` or, given a Fit, at the
   * size `size` would find (sizing and writing in one go, so nothing is planned or
   * copied twice). The caller fills the result where the disk needs it. Throws a
   * FilesystemTooSmallError when the tree does not fit the given size.
   */
  write(request: FilesystemRequest): Promise<PendingFilesystem>;
  /** Runs the fsType's checker read-only; resolves with its output, rejects when it finds problems. */
  check(file: string): Promise<string>;
  /**
   * Copies the filesystem's tree into the existing, empty `destDir` without mounting
   * (for verify): contents, exec bits and symlinks as stored; undefined when no
   * userspace tool can read the fsType.
   */
  extract?(file: string, destDir: string): Promise<void>;
}

/**
 * A filesystem in `file` that the caller fills where the disk image needs it: a raw
 * disk's partition, the clusters of a qcow2, or `file` itself. ext4 is formatted with
 * its tree planned but not written, so an image is written once, not written as a
 * filesystem file and then copied into the disk; a filesystem its tool wrote whole
 * fills by copying `file` (and into `file` itself, by nothing).
 */
export interface PendingFilesystem {
  file: string;
  sizeBytes: number;
  /** Byte ranges, from the filesystem's start, that `fill` writes into a file other than `file`: all that is not zeros. */
  ranges(): Promise<ByteRange[]>;
  /** Writes the filesystem through `target`, whose map has the filesystem's first byte at guest offset 0; `target.path` may be `file`. */
  fill(target: MappedTarget): Promise<void>;
}

export class FilesystemTooSmallError extends Error {
  constructor(
    readonly fsType: string,
    readonly sizeBytes: number,
    detail: string,
    /** The size that would fit, when the tool tells it without another build. */
    readonly neededBytes?: number,
  ) {
    super(
      `${fsType} filesystem of ${sizeBytes} bytes is too small` +
        (neededBytes !== undefined ? ` (needs ${neededBytes} bytes)` : '') +
        `: ${detail}`,
    );
  }
}
