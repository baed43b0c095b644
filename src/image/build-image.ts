/**
 * The image pipeline for one make-disk-image call whose closure is realised:
 * stage (unless the filesystem reads the store in place) → root filesystem (sized
 * exactly) → plan → boot partitions → table bytes → one qemu-img write of all pieces →
 * $out (image, hydra-build-products) → postVM.
 * It sees ImageOptions and a Closure, never Nix syntax.
 */
import { mkdir, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Closure } from '../nix/closure.js';
import type { ImageOptions } from '../options.js';
import { formatBytes, MiB } from '../units.js';
import { step, type EventSink } from '../events.js';
import { convertImage, type Compression } from './convert.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './fs/filesystem.js';
import { filesystemFor } from './fs/index.js';
import { scanTree } from './fs/common.js';
import { createBootFat } from './fs/vfat.js';
import { hydraBuildProductLine, OutputDir } from './output-dir.js';
import { additionalSpaceBytes, assemblyPieces, diskSectors, planImage, type ImagePiece, type ImagePlan } from './plan.js';
import { runPostVM } from './postvm.js';
import { stopToolsOn } from '../tools.js';
import { stageStorePaths } from './stage.js';
import { gptBytes } from './table/gpt.js';
import { mbrBytes } from './table/mbr.js';

/** Timestamps in deterministic images: nixpkgs' store paths carry mtime 1, so everything does. */
export const DETERMINISTIC_EPOCH = 1;

export interface BuildImageRequest {
  options: ImageOptions;
  closure: Closure;
  outDir: string;
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
  const output = await OutputDir.begin(request.outDir);
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
    const plan = await step(emit, 'populate', `writing the ${options.fsType} root filesystem`, () =>
      createRootFilesystem(filesystem, fsBuild, options, workDir),
    );
    signal?.throwIfAborted();

    const pieces = await step(emit, 'assemble', `laying out ${describeTable(plan)}`, () => writePieces(plan, fsBuild.output, workDir));
    signal?.throwIfAborted();

    const imagePath = path.join(output.tempDir, plan.imageFileName);
    await step(emit, 'convert', `writing ${plan.imageFileName} (${formatBytes(plan.totalSectors * 512)})`, () =>
      writeImageFile(plan, pieces, imagePath, request.compression, (percent) =>
        emit({ type: 'progress', step: 'convert', done: Math.round(percent), total: 100 }),
      ),
    );

    const finalImagePath = path.join(output.finalDir, plan.imageFileName);
    await mkdir(path.join(output.tempDir, 'nix-support'));
    await writeFile(path.join(output.tempDir, 'nix-support', 'hydra-build-products'), hydraBuildProductLine(options.format, finalImagePath));

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
    await rm(workDir, { recursive: true, force: true });
  }
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
): Promise<ImagePlan> {
  if (options.diskSize === 'auto' && filesystem.createFitting) {
    const sizeFor = (neededBytes: number) => planImage(options, neededBytes).rootSizeBytes;
    return planImage(options, await filesystem.createFitting(build, additionalSpaceBytes(options), sizeFor, workDir));
  }
  if (options.diskSize === 'auto') {
    let needed = await filesystem.minimumSize(build, workDir, additionalSpaceBytes(options));
    // The measurement predicts from the real tool; should the final layout need a few
    // blocks more, grow by a MiB rather than fail.
    for (let attempt = 0; ; attempt++) {
      const plan = planImage(options, needed);
      try {
        await filesystem.create({ ...build, sizeBytes: plan.rootSizeBytes });
        return plan;
      } catch (error) {
        if (!(error instanceof FilesystemTooSmallError) || attempt === 2) throw error;
        needed = plan.rootSizeBytes + MiB;
      }
    }
  }
  const plan = planImage(options);
  try {
    await filesystem.create({ ...build, sizeBytes: plan.rootSizeBytes });
  } catch (error) {
    if (!(error instanceof FilesystemTooSmallError)) throw error;
    const needed = error.neededBytes ?? (await filesystem.minimumSize(build, workDir));
    const neededMiB = (diskSectors({ ...options, diskSize: 'auto' }, needed) * 512) / MiB;
    throw new DiskTooSmallError(
      `diskSize = ${options.diskSize} MiB is too small: the ${options.fsType} root filesystem needs ${mebibytesRoundedUp(needed)} MiB, ` +
        `so the disk needs at least ${neededMiB} MiB. Set diskSize = ${neededMiB} or diskSize = "auto".`,
    );
  }
  return plan;
}

/** Rounded up, never down: "needs 1 MiB" must not be said of a filesystem that a 1 MiB disk cannot hold. */
function mebibytesRoundedUp(bytes: number): number {
  return Math.ceil((bytes / MiB) * 10) / 10;
}

/** One file per piece, in disk order: table bytes, partition filesystems, sparse zeros. */
async function writePieces(plan: ImagePlan, rootFs: string, workDir: string): Promise<string[]> {
  const pieces = assemblyPieces(plan);
  const tables = plan.table.kind === 'gpt' ? gptBytes(plan.table, plan.totalSectors) : undefined;
  const files: string[] = [];
  for (const [index, piece] of pieces.entries()) {
    files.push(await writePiece(plan, piece, index, rootFs, workDir, tables));
  }
  return files;
}

async function writePiece(
  plan: ImagePlan,
  piece: ImagePiece,
  index: number,
  rootFs: string,
  workDir: string,
  tables: { primary: Buffer; backup: Buffer } | undefined,
): Promise<string> {
  const file = path.join(workDir, `piece-${String(index).padStart(2, '0')}-${piece.kind}${piece.role ? '-' + piece.role : ''}`);
  switch (piece.kind) {
    case 'head': {
      const bytes = tables ? tables.primary : mbrBytes(plan.table, plan.totalSectors);
      await writeSparse(file, bytes, piece.sizeBytes);
      return file;
    }
    case 'tail':
      await writeSparse(file, tables!.backup, piece.sizeBytes);
      return file;
    case 'zero':
      await writeSparse(file, Buffer.alloc(0), piece.sizeBytes);
      return file;
    case 'partition':
      if (piece.role === 'root') return rootFs;
      if (piece.role === 'esp' || piece.role === 'xbootldr' || piece.role === 'boot') {
        await createBootFat({
          output: file,
          sizeBytes: piece.sizeBytes,
          label: piece.role === 'esp' ? 'ESP' : 'BOOT',
          volumeId: null,
          deterministic: plan.options.deterministic,
          epoch: DETERMINISTIC_EPOCH,
          sourceDir: null,
          partitionStartSector: piece.offsetBytes / 512,
        });
        return file;
      }
      // The BIOS boot partition holds GRUB's core image once a bootloader is installed; empty until then.
      await writeSparse(file, Buffer.alloc(0), piece.sizeBytes);
      return file;
  }
}

async function writeSparse(file: string, bytes: Buffer, sizeBytes: number): Promise<void> {
  if (bytes.length > sizeBytes) throw new Error(`internal: ${bytes.length} table bytes do not fit a ${sizeBytes}-byte piece`);
  await writeFile(file, bytes, { flag: 'wx' });
  await truncate(file, sizeBytes);
}

/**
 * A raw image of a single piece (no partition table) is that piece: renamed into
 * place, not copied. Everything else is one qemu-img convert over the pieces.
 */
async function writeImageFile(
  plan: ImagePlan,
  pieces: string[],
  imagePath: string,
  compression: Compression,
  onProgress: (percent: number) => void,
): Promise<void> {
  if (plan.options.format === 'raw' && pieces.length === 1) {
    try {
      await rename(pieces[0]!, imagePath);
      onProgress(100);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    }
  }
  await convertImage({
    inputs: pieces,
    output: imagePath,
    format: plan.options.format,
    compression,
    pin: plan.options.deterministic ? { seed: `${plan.options.rootGPUID}:${plan.options.name}`, unixTime: DETERMINISTIC_EPOCH } : null,
    onProgress,
  });
}

function describeTable(plan: ImagePlan): string {
  if (plan.table.kind === 'none') return 'the image (no partition table)';
  return `a ${plan.partitionTableType} ${plan.table.kind.toUpperCase()} table with ${plan.table.partitions.length} partitions`;
}
