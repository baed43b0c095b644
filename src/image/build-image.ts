/**
 * The image pipeline for one make-disk-image call whose closure is realised:
 * stage (unless the filesystem reads the store in place) → root filesystem (sized
 * exactly; formatted and planned, or made whole by its tool) → plan → boot partitions
 * and table bytes → one write of the disk, raw or qcow2, each part in its place →
 * qemu-img convert for the other formats → $out (image, hydra-build-products) → postVM.
 * It sees ImageOptions and a Closure, never Nix syntax.
 */
import { chmod, copyFile, mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Closure } from '../nix/closure.js';
import type { ImageOptions } from '../options.js';
import { formatBytes, MiB, SECTOR } from '../units.js';
import { step, type EventSink } from '../events.js';
import { convertImage, type Compression } from './convert.js';
import { identityMap } from './disk/host-map.js';
import { bytesPart, filePart, writeDisk, type Container, type DiskPart } from './disk/write-disk.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild, type PendingFilesystem } from './fs/filesystem.js';
import { filesystemFor } from './fs/index.js';
import { scanTree } from './fs/common.js';
import { createBootFat } from './fs/vfat.js';
import { hydraBuildProductLine, OutputDir } from './output-dir.js';
import { additionalSpaceBytes, assemblyPieces, diskSectors, planImage, type ImagePiece, type ImagePlan } from './plan.js';
import { runPostVM } from './postvm.js';
import { stopToolsOn } from '../tools.js';
import { removeStagedTree, stageStorePaths } from './stage.js';
import { gptBytes } from './table/gpt.js';
import { mbrBytes } from './table/mbr.js';

/** Timestamps in deterministic images: nixpkgs' store paths carry mtime 1, so everything does. */
export const DETERMINISTIC_EPOCH = 1;

export interface BuildImageRequest {
  options: ImageOptions;
  closure: Closure;
  outDir: string;
  /** Write into `outDir` itself, a fresh path (a Nix builder's $out); see OutputDir.begin. */
  outputInPlace?: boolean;
  compression: Compression;
  /** Where the scratch folder goes; large (a filesystem image and its staging tree). */
  workRoot?: string;
  signal?: AbortSignal;
  emit: EventSink;
}

export interface BuiltImage {
  outDir: string;
  imagePath: string;
  plan: ImagePlan;
}

export class DiskTooSmallError extends Error {
  override name = 'DiskTooSmallError';
}

/** Runs the pipeline; every tool it starts stops when `request.signal` aborts. */
export function buildImage(request: BuildImageRequest): Promise<BuiltImage> {
  return stopToolsOn(request.signal, () => runPipeline(request));
}

async function runPipeline(request: BuildImageRequest): Promise<BuiltImage> {
  const { options, emit, signal } = request;
  if (!options.onlyNixStore) {
    throw new Error('full NixOS images (onlyNixStore = false) are not built yet: nixdisk builds store-only images so far');
  }
  const filesystem = filesystemFor(options.fsType);
  const output = await OutputDir.begin(request.outDir, { inPlace: request.outputInPlace });
  // When the scratch folder cannot be made (TMPDIR missing, disk full), the output's
  // temporary sibling must not stay behind.
  const workDir = await mkdtemp(path.join(request.workRoot ?? os.tmpdir(), 'nixdisk-build-')).catch(async (error: unknown) => {
    await output.abort();
    throw error;
  });
  try {
    const rootDir = path.join(workDir, 'root');
    const storePaths = request.closure.paths.map((info) => info.path);
    // A filesystem that reads the store in place needs no staged copy of it; $root is
    // then staged only if postVM may look at it.
    let staged = false;
    const stage = async () => {
      await step(emit, 'stage', `staging ${storePaths.length} store paths`, () => stageStorePaths(storePaths, rootDir));
      staged = true;
      signal?.throwIfAborted();
    };
    if (filesystem.readsGrafts) await mkdir(rootDir);
    else await stage();

    const fsBuild: Omit<FilesystemBuild, 'sizeBytes'> = {
      sourceDir: rootDir,
      ...(filesystem.readsGrafts ? { grafts: storePaths, tree: await scanTree(rootDir, storePaths) } : {}),
      output: path.join(workDir, 'root.fs'),
      label: options.label,
      uuid: options.rootFSUID,
      deterministic: options.deterministic,
      epoch: DETERMINISTIC_EPOCH,
    };
    const { plan, pending } = await step(emit, 'populate', `${filesystem.prepare ? 'formatting and planning' : 'writing'} the ${options.fsType} root filesystem`, () =>
      createRootFilesystem(filesystem, fsBuild, options, workDir),
    );
    signal?.throwIfAborted();

    const parts = await step(emit, 'assemble', `laying out ${describeTable(plan)}`, () => diskParts(plan, fsBuild.output, pending, workDir));
    signal?.throwIfAborted();

    const imagePath = path.join(output.tempDir, plan.imageFileName);
    await writeImageFile(plan, parts, { file: fsBuild.output, pending }, imagePath, workDir, request.compression, emit);

    const finalImagePath = path.join(output.finalDir, plan.imageFileName);
    await mkdir(path.join(output.tempDir, 'nix-support'));
    await writeFile(path.join(output.tempDir, 'nix-support', 'hydra-build-products'), hydraBuildProductLine(options.format, finalImagePath));
    if (options.touchEFIVars) await writeEfiVars(options, output.tempDir);

    if (options.postVM.trim() !== '') {
      if (!staged) await stage();
      await step(emit, 'postVM', 'running postVM', () =>
        runPostVM({
          script: options.postVM,
          outDir: output.tempDir,
          diskImage: imagePath,
          buildDir: workDir,
          rootDir,
          onLine: (line) => emit({ type: 'log', step: 'postVM', line }),
        }),
      );
    }
    signal?.throwIfAborted();
    await output.commit();
    return { outDir: output.finalDir, imagePath: finalImagePath, plan };
  } catch (error) {
    await output.abort();
    throw error;
  } finally {
    await removeStagedTree(workDir);
  }
}

/**
 * $out/efi-vars.fd: nixpkgs copies efiVariables (chmod 0644) before its VM runs; with no
 * VM and no firmware run, nixdisk's copy stays as the variables file is.
 */
async function writeEfiVars(options: ImageOptions, outDir: string): Promise<void> {
  if (options.efiVariables === null) {
    throw new Error('touchEFIVars = true needs efiVariables (nixpkgs takes pkgs.OVMF.fd.variables by default, which nixdisk cannot evaluate): pass efiVariables');
  }
  const target = path.join(outDir, 'efi-vars.fd');
  await copyFile(options.efiVariables, target);
  await chmod(target, 0o644);
}

/** The root filesystem and the plan around it; `pending` is null when the filesystem's tool wrote it whole. */
interface RootFilesystem {
  plan: ImagePlan;
  pending: PendingFilesystem | null;
}

/**
 * The root filesystem, sized as the options say. "auto": the smallest filesystem that
 * holds the tree with additionalSpace free, measured by the filesystem's tool, and the
 * smallest disk around it. A fixed diskSize: the filesystem fills the root partition,
 * or the build stops before any image is written, naming the diskSize that would fit.
 */
async function createRootFilesystem(
  filesystem: Filesystem,
  build: Omit<FilesystemBuild, 'sizeBytes'>,
  options: ImageOptions,
  workDir: string,
): Promise<RootFilesystem> {
  if (options.diskSize === 'auto' && filesystem.prepareFitting) {
    const sizeFor = (neededBytes: number) => planImage(options, neededBytes).rootSizeBytes;
    const pending = await filesystem.prepareFitting(build, additionalSpaceBytes(options), sizeFor, workDir);
    return { plan: planImage(options, pending.sizeBytes), pending };
  }
  const createAt = async (sizeBytes: number): Promise<PendingFilesystem | null> => {
    if (filesystem.prepare) return filesystem.prepare({ ...build, sizeBytes });
    await filesystem.create({ ...build, sizeBytes });
    return null;
  };
  if (options.diskSize === 'auto') {
    let needed = await filesystem.minimumSize(build, workDir, additionalSpaceBytes(options));
    // The measurement predicts from the real tool; should the final layout need a few
    // blocks more, grow by a MiB rather than fail.
    for (let attempt = 0; ; attempt++) {
      const plan = planImage(options, needed);
      try {
        return { plan, pending: await createAt(plan.rootSizeBytes) };
      } catch (error) {
        if (!(error instanceof FilesystemTooSmallError) || attempt === 2) throw error;
        needed = plan.rootSizeBytes + MiB;
      }
    }
  }
  const plan = planImage(options);
  try {
    return { plan, pending: await createAt(plan.rootSizeBytes) };
  } catch (error) {
    if (!(error instanceof FilesystemTooSmallError)) throw error;
    const needed = error.neededBytes ?? (await filesystem.minimumSize(build, workDir));
    const neededMiB = (diskSectors({ ...options, diskSize: 'auto' }, needed) * 512) / MiB;
    throw new DiskTooSmallError(
      `diskSize = ${options.diskSize} MiB is too small: the ${options.fsType} root filesystem needs ${mebibytesRoundedUp(needed)} MiB, ` +
        `so the disk needs at least ${neededMiB} MiB. Set diskSize = ${neededMiB} or diskSize = "auto".`,
    );
  }
}

/** Rounded up, never down: "needs 1 MiB" must not be said of a filesystem that a 1 MiB disk cannot hold. */
function mebibytesRoundedUp(bytes: number): number {
  return Math.ceil((bytes / MiB) * 10) / 10;
}

/** What goes on the disk, in disk order: table bytes, boot partitions, the root filesystem; gaps stay zeros. */
async function diskParts(plan: ImagePlan, rootFile: string, pending: PendingFilesystem | null, workDir: string): Promise<DiskPart[]> {
  const tables = plan.table.kind === 'gpt' ? gptBytes(plan.table, plan.totalSectors) : undefined;
  const parts: DiskPart[] = [];
  for (const piece of assemblyPieces(plan)) {
    const part = await diskPart(plan, piece, rootFile, pending, workDir, tables);
    if (part) parts.push(part);
  }
  return parts;
}

async function diskPart(
  plan: ImagePlan,
  piece: ImagePiece,
  rootFile: string,
  pending: PendingFilesystem | null,
  workDir: string,
  tables: { primary: Buffer; backup: Buffer } | undefined,
): Promise<DiskPart | null> {
  const { offsetBytes, sizeBytes } = piece;
  switch (piece.kind) {
    case 'head':
      return bytesPart(offsetBytes, sizeBytes, tables ? tables.primary : mbrBytes(plan.table, plan.totalSectors));
    case 'tail':
      return bytesPart(offsetBytes, sizeBytes, tables!.backup);
    case 'zero':
      return null;
    case 'partition':
      if (piece.role === 'root') {
        return pending ? { offsetBytes, sizeBytes, ranges: () => pending.ranges(), writeTo: (target) => pending.fill(target) } : filePart(offsetBytes, sizeBytes, rootFile);
      }
      if (piece.role === 'esp' || piece.role === 'xbootldr' || piece.role === 'boot') {
        const file = path.join(workDir, `partition-${piece.partitionNumber}-${piece.role}`);
        await createBootFat({
          output: file,
          sizeBytes,
          label: piece.role === 'esp' ? 'ESP' : 'BOOT',
          volumeId: null,
          deterministic: plan.options.deterministic,
          epoch: DETERMINISTIC_EPOCH,
          sourceDir: null,
          partitionStartSector: offsetBytes / 512,
        });
        return filePart(offsetBytes, sizeBytes, file);
      }
      // The BIOS boot partition holds GRUB's core image once a bootloader is installed; zeros until then.
      return null;
  }
}

/** raw and qcow2 are written directly; the other formats are converted by qemu-img from a raw disk. */
function containerOf(format: string): Container | null {
  return format === 'raw' || format === 'qcow2' ? format : null;
}

/**
 * The image file: the disk written once, in the output format or as raw for qemu-img to
 * convert; or, for a raw image without a partition table, the root filesystem's file.
 */
async function writeImageFile(
  plan: ImagePlan,
  parts: readonly DiskPart[],
  root: { file: string; pending: PendingFilesystem | null },
  imagePath: string,
  workDir: string,
  compression: Compression,
  emit: EventSink,
): Promise<void> {
  const { options } = plan;
  const diskBytes = plan.totalSectors * SECTOR;
  const describe = `writing ${plan.imageFileName} (${formatBytes(diskBytes)})`;
  const container = containerOf(options.format);
  if (container === 'raw' && plan.table.kind === 'none') {
    await step(emit, 'write', describe, () => writeFilesystemAsImage(root, imagePath, diskBytes));
    return;
  }
  if (container !== null) {
    await step(emit, 'write', describe, () => writeDisk(imagePath, container, diskBytes, parts));
    return;
  }
  const rawDisk = path.join(workDir, 'disk.raw');
  await step(emit, 'write', `writing the ${formatBytes(diskBytes)} disk`, () => writeDisk(rawDisk, 'raw', diskBytes, parts));
  await step(emit, 'convert', describe, () =>
    convertImage({
      input: rawDisk,
      output: imagePath,
      format: options.format,
      compression,
      pin: options.deterministic ? { seed: `${options.rootGPUID}:${options.name}`, unixTime: DETERMINISTIC_EPOCH } : null,
      onProgress: (percent) => emit({ type: 'progress', step: 'convert', done: Math.round(percent), total: 100 }),
    }),
  );
}

/**
 * A raw image without a partition table is its root filesystem's file: filled where it
 * was formatted and renamed into place, or copied when the output is on another filesystem.
 */
async function writeFilesystemAsImage(root: { file: string; pending: PendingFilesystem | null }, imagePath: string, diskBytes: number): Promise<void> {
  const { pending } = root;
  if (pending) await pending.fill({ path: pending.file, map: identityMap(pending.sizeBytes) });
  try {
    await rename(root.file, imagePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await writeDisk(imagePath, 'raw', diskBytes, [filePart(0, diskBytes, root.file)]);
  }
}

function describeTable(plan: ImagePlan): string {
  if (plan.table.kind === 'none') return 'the image (no partition table)';
  return `a ${plan.partitionTableType} ${plan.table.kind.toUpperCase()} table with ${plan.table.partitions.length} partitions`;
}
