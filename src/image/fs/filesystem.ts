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

export interface Filesystem {
  fsType: string;
  /** Whether it reads FilesystemBuild.grafts in place (else the caller stages them into sourceDir). */
  readsGrafts?: true;
  /** External commands it runs, with the Debian package that ships each (for setup and errors). */
  tools: { command: string; debianPackage: string }[];
  /**
   * The smallest size in bytes (a multiple of 4096) at which `create` succeeds for
   * this source tree with `spareBytes` (make-disk-image's additionalSpace) still free,
   * found from the real tool, not a fudge factor. Measures by building into a scratch
   * directory inside `workDir`, which it removes.
   */
  minimumSize(build: Omit<FilesystemBuild, 'output' | 'sizeBytes'>, workDir: string, spareBytes?: number): Promise<number>;
  /** Writes the filesystem into `build.output`. Throws a FilesystemTooSmallError when it does not fit. */
  create(build: FilesystemBuild): Promise<void>;
  /**
   * Writes the filesystem into `build.output` at the smallest size at which it fits and
   * resolves with that size: the measurement and the final build in one go, so a
   * caller that wants the minimum does not pay for the copy twice.
   */
  createMinimal(build: Omit<FilesystemBuild, 'sizeBytes'>): Promise<number>;
  /**
   * For a filesystem nixdisk fills itself: `create` up to the filling, which the caller
   * then does straight into the disk image (see PendingFilesystem).
   */
  prepare?(build: FilesystemBuild): Promise<PendingFilesystem>;
  /**
   * For diskSize = "auto", with `prepare`: prepares `build.output` at the smallest size
   * `sizeFor` allows (it rounds a needed size up to what the disk layout would give the
   * root partition) that holds the tree with `spareBytes` free. For a filesystem that
   * can try a size without writing the tree; the others are measured with minimumSize,
   * then created.
   */
  prepareFitting?(build: Omit<FilesystemBuild, 'sizeBytes'>, spareBytes: number, sizeFor: (neededBytes: number) => number, workDir: string): Promise<PendingFilesystem>;
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
 * A filesystem formatted in `file` with its tree planned but not written. The caller
 * fills it where the disk image needs it: a raw disk's partition, the clusters of a
 * qcow2, or the formatted file itself; so an image is written once, not written as a
 * filesystem file and then copied into the disk.
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
