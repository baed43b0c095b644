/**
 * The image pipeline for one make-disk-image call whose closure is realised:
 * stage (unless the filesystem reads the store in place) → root filesystem (sized
 * exactly; formatted and planned, or made whole by its tool) → plan → boot partitions
 * and table bytes → one write of the disk, raw or qcow2, each part in its place →
 * qemu-img convert for the other formats → $out (image, hydra-build-products) → postVM.
 * It sees ImageOptions and a Closure, never Nix syntax.
 */
import { mkdir, mkdtemp, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Closure } from '../nix/closure.js';
import type { ImageOptions } from '../options.js';
import { formatBytes, MiB, SECTOR } from '../units.js';
import { reportingBytes, step, type BuildStep, type EventSink } from '../events.js';
import { convertImage, type Compression } from './convert.js';
import { identityMap } from './disk/host-map.js';
import { writeCompressedQcow2 } from './disk/qcow2-compressed.js';
import { bytesPart, filePart, imageRoute, writeDisk, type DiskPart } from './disk/write-disk.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild, type PendingFilesystem } from './fs/filesystem.js';
import { filesystemFor } from './fs/index.js';
import { scanTree, type TreeEntry } from './fs/tree.js';
import { createBootFat } from './fs/vfat.js';
import { hydraBuildProductLine, OutputDir } from './output-dir.js';
import { additionalSpaceBytes, assemblyPieces, diskSectors, planImage, type ImagePiece, type ImagePlan } from './plan.js';
import { runPostVM } from './postvm.js';
import { removeTree } from '../remove-tree.js';
import { stopToolsOn } from '../tools.js';
import { stageStorePaths } from './stage.js';
import { gptBytes } from './table/gpt.js';
import { mbrBytes } from './table/mbr.js';
import type { BootInstallation, BootTarget, DiskWrite, ImageMount } from './boot/bootloader.js';
import { checkBootLoader, installBootLoader } from './boot/index.js';
import { addBootEntries, bootEntriesOnPartitions } from './efivars.js';
import { copyRootPart, mountSourceDirs, overlayWrites, assertWritesPlaced } from './system/boot-tree.js';
import { checkSystem, ownerOf, stageSystem, type CheckedSystem, type OwnedPath, type SystemInputs } from './system/index.js';
import { imageMounts } from './system/mounts.js';
import { buildNixDatabase, installNixDatabase } from './system/nix-db.js';

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
  /** For a full image (onlyNixStore = false): the system evaluation found. */
  system?: SystemInputs;
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
  const filesystem = filesystemFor(options.fsType);
  const full = !options.onlyNixStore;
  // Everything a user can get wrong in a full image is refused before any output exists.
  let system: CheckedSystem | null = null;
  let mounts: ImageMount[] | null = null;
  if (full) {
    if (!request.system) throw new Error('internal: a full image was requested without its system (toplevel, channel, config)');
    system = await checkSystem(options, request.system, filesystem.readsGrafts === true);
    mounts = imageMounts(options);
    if (options.installBootLoader) await checkBootLoader(request.system.config, system.toplevel);
  }
  if (options.touchEFIVars && options.efiVariables === null) {
    throw new Error('touchEFIVars needs efiVariables (by default OVMF.variables): pass efiVariables, or an OVMF package that has `variables`');
  }
  const output = await OutputDir.begin(request.outDir, { inPlace: request.outputInPlace });
  // When the scratch folder cannot be made (TMPDIR missing, disk full), the output's
  // temporary sibling must not stay behind.
  const workDir = await mkdtemp(path.join(request.workRoot ?? os.tmpdir(), 'nixdisk-build-')).catch(async (error: unknown) => {
    await output.abort();
    throw error;
  });
  // A full image's Nix database, made beside the staging and scan and then put in the
  // staged root, and the boot filesystems, made beside the root one: all settled before
  // the scratch folder goes.
  let database: Promise<string> | undefined;
  let databaseInstalled: Promise<void> | undefined;
  let bootFats = new Map<number, Promise<DiskPart>>();
  try {
    const rootDir = path.join(workDir, 'root');
    const storePaths = request.closure.paths.map((info) => info.path);
    // A full image keeps the store under /nix/store; a store-only one at the root.
    const graftDir = full ? 'nix/store' : '';
    // A filesystem that reads the store in place needs no staged copy of it; $root is
    // then staged only if postVM may look at it.
    let staged = false;
    const stage = async () => {
      await step(emit, 'stage', `staging ${storePaths.length} store paths`, () => stageStorePaths(storePaths, path.join(rootDir, graftDir)));
      staged = true;
      signal?.throwIfAborted();
    };
    await mkdir(rootDir);
    let owners: OwnedPath[] = [];
    if (system) {
      const checked = system;
      // Nix's tools make the database while the system is staged and the store scanned.
      database = buildNixDatabase(request.closure.paths, workDir, options.deterministic ? DETERMINISTIC_EPOCH : null);
      database.catch(() => undefined);
      owners = await step(emit, 'stage', 'staging the system: contents, profiles', () => stageSystem(checked, options, rootDir));
      signal?.throwIfAborted();
    }
    // Boot partitions lie where the final plan puts them, whatever the disk size: they come before the root.
    const bootPlan = planImage(options, options.diskSize === 'auto' ? 1 : undefined);
    let installation: BootInstallation | null = null;
    if (system && mounts && options.installBootLoader) {
      const target: BootTarget = {
        partitionTableType: options.partitionTableType,
        mounts,
        table: bootPlan.table,
        toplevel: system.toplevel,
        config: request.system!.config,
        deterministic: options.deterministic,
        epoch: DETERMINISTIC_EPOCH,
        workDir: path.join(workDir, 'boot-loader'),
      };
      await mkdir(target.workDir);
      installation = await step(emit, 'stage', 'installing the boot loader', () => installBootLoader(target));
      await copyRootPart(installation.treeDir, mounts, rootDir);
      signal?.throwIfAborted();
    }
    databaseInstalled = database?.then((builtDb) => installNixDatabase(builtDb, rootDir));
    databaseInstalled?.catch(() => undefined);
    if (!filesystem.readsGrafts) {
      await databaseInstalled;
      await stage();
    }

    const fsBuild: Omit<FilesystemBuild, 'sizeBytes'> = {
      sourceDir: rootDir,
      ...(filesystem.readsGrafts ? { grafts: storePaths, graftDir } : {}),
      output: path.join(workDir, 'root.fs'),
      label: options.label,
      uuid: mounts && mounts[0]!.uuid !== '' ? mounts[0]!.uuid : options.rootFSUID,
      deterministic: options.deterministic,
      epoch: DETERMINISTIC_EPOCH,
    };
    // A filesystem that reads the store in place (ext4) is only formatted and planned here; the write step fills it.
    const { plan, pending } = await step(emit, 'populate', `${filesystem.readsGrafts ? 'formatting and planning' : 'writing'} the ${options.fsType} root filesystem`, async () => {
      // The tree is scanned once, here, for both sizing and filling: part of this step's time.
      const tree = filesystem.readsGrafts ? assignOwners(await scanTree(rootDir, storePaths, graftDir, databaseInstalled), owners) : undefined;
      // The boot filesystems are made while the root one is sized, whose tools leave this thread idle.
      bootFats = startBootFats(bootPlan, workDir, { mounts, installation });
      return createRootFilesystem(filesystem, tree ? { ...fsBuild, tree } : fsBuild, options, workDir);
    });
    signal?.throwIfAborted();

    const parts = await step(emit, 'assemble', `laying out ${describeTable(plan)}`, () => diskParts(plan, pending, bootFats, installation?.diskWrites ?? []));
    signal?.throwIfAborted();

    const imagePath = path.join(output.tempDir, plan.imageFileName);
    await writeImageFile(plan, parts, pending, imagePath, workDir, request.compression, emit, signal);

    if (options.touchEFIVars) {
      // FACTS §8: a copy of the variable store, made before the image in nixpkgs' preVM.
      // With canTouchEfiVariables, plus the boot entry the loader's installer adds.
      const entries = installation && mounts ? bootEntriesOnPartitions(installation.efiBootEntries, mounts, plan.table) : [];
      await writeFile(path.join(output.tempDir, 'efi-vars.fd'), addBootEntries(await readFile(options.efiVariables!), entries), { mode: 0o644 });
    }

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
    await Promise.allSettled([database, databaseInstalled, ...bootFats.values()]);
    // The staged tree holds the store's read-only directories.
    await removeTree(workDir);
  }
}

/** The root filesystem and the plan around it. */
interface RootFilesystem {
  plan: ImagePlan;
  pending: PendingFilesystem;
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
  if (options.diskSize === 'auto') {
    const sizeFor = (neededBytes: number) => planImage(options, neededBytes).rootSizeBytes;
    const pending = await filesystem.write({ ...build, sizeBytes: { spareBytes: additionalSpaceBytes(options), sizeFor, workDir } });
    return { plan: planImage(options, pending.sizeBytes), pending };
  }
  const plan = planImage(options);
  try {
    return { plan, pending: await filesystem.write({ ...build, sizeBytes: plan.rootSizeBytes }) };
  } catch (error) {
    if (!(error instanceof FilesystemTooSmallError)) throw error;
    const needed = error.neededBytes ?? (await filesystem.size(build, { spareBytes: 0, workDir }));
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

/** A full image's boot filesystems: their identities, and what the loader put in them. */
interface BootParts {
  mounts: readonly ImageMount[] | null;
  installation: BootInstallation | null;
}

const BOOT_FAT_ROLES: ReadonlySet<string> = new Set(['esp', 'xbootldr', 'boot']);

/**
 * Starts making the FAT file of each boot partition in `plan` (any plan of the image:
 * these partitions do not move with the disk size), by partition number. Each settles
 * as a DiskPart whose data ranges are already read.
 */
function startBootFats(plan: ImagePlan, workDir: string, boot: BootParts): Map<number, Promise<DiskPart>> {
  const fats = new Map<number, Promise<DiskPart>>();
  for (const piece of assemblyPieces(plan)) {
    if (piece.kind !== 'partition' || !BOOT_FAT_ROLES.has(piece.role!)) continue;
    const made = bootFat(plan, piece, workDir, boot);
    // Awaited by diskParts, or left when the build fails first; its file goes with the scratch folder.
    made.catch(() => undefined);
    fats.set(piece.partitionNumber!, made);
  }
  return fats;
}

async function bootFat(plan: ImagePlan, piece: ImagePiece, workDir: string, boot: BootParts): Promise<DiskPart> {
  const { offsetBytes, sizeBytes } = piece;
  const file = path.join(workDir, `partition-${piece.partitionNumber}-${piece.role}`);
  // A full image names its boot filesystems before formatting them, for the loader.
  const mount = boot.mounts?.find((m) => m.role === piece.role);
  const installed = mount && boot.installation ? mountSourceDirs(boot.installation.treeDir, [mount]).get(mount.mountPoint)! : null;
  await createBootFat({
    output: file,
    sizeBytes,
    label: piece.role === 'esp' ? 'ESP' : 'BOOT',
    volumeId: mount?.uuid ?? null,
    deterministic: plan.options.deterministic,
    epoch: DETERMINISTIC_EPOCH,
    sourceDir: installed && (await isDirectory(installed)) ? installed : null,
    partitionStartSector: offsetBytes / 512,
  });
  const part = filePart(offsetBytes, sizeBytes, file);
  await part.ranges();
  return part;
}

/** What goes on the disk, in disk order: table bytes, boot partitions, the root filesystem; gaps stay zeros unless a loader writes there. */
async function diskParts(plan: ImagePlan, root: PendingFilesystem, bootFats: ReadonlyMap<number, Promise<DiskPart>>, writes: readonly DiskWrite[]): Promise<DiskPart[]> {
  const tables = plan.table.kind === 'gpt' ? gptBytes(plan.table, plan.totalSectors) : undefined;
  const pieces = assemblyPieces(plan);
  assertWritesPlaced(pieces, writes);
  const parts: DiskPart[] = [];
  for (const piece of pieces) {
    const part = await diskPart(plan, piece, root, tables, bootFats, writes);
    if (part) parts.push(part);
  }
  return parts;
}

async function diskPart(
  plan: ImagePlan,
  piece: ImagePiece,
  root: PendingFilesystem,
  tables: { primary: Buffer; backup: Buffer } | undefined,
  bootFats: ReadonlyMap<number, Promise<DiskPart>>,
  writes: readonly DiskWrite[],
): Promise<DiskPart | null> {
  const { offsetBytes, sizeBytes } = piece;
  const bytesOrNothing = (base: Buffer | null) => {
    const bytes = overlayWrites(piece, base, writes);
    return bytes ? bytesPart(offsetBytes, sizeBytes, bytes) : null;
  };
  switch (piece.kind) {
    case 'head':
      return bytesOrNothing(tables ? tables.primary : mbrBytes(plan.table, plan.totalSectors));
    case 'tail':
      return bytesPart(offsetBytes, sizeBytes, tables!.backup);
    case 'zero':
      return bytesOrNothing(null);
    case 'partition': {
      if (piece.role === 'root') {
        return { offsetBytes, sizeBytes, ranges: () => root.ranges(), writeTo: (target) => root.fill(target) };
      }
      if (!BOOT_FAT_ROLES.has(piece.role!)) {
        // The BIOS boot partition: GRUB's core image when a loader put it there, else zeros.
        return bytesOrNothing(null);
      }
      const part = await bootFats.get(piece.partitionNumber!);
      if (part?.offsetBytes !== offsetBytes || part.sizeBytes !== sizeBytes) {
        throw new Error(`internal: boot partition ${piece.partitionNumber} is not where the plan without the root's size put it`);
      }
      return part;
    }
  }
}

async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

/**
 * The image file: the disk written once, in the output format or as raw for nixdisk to
 * deflate or qemu-img to convert; or, for a raw image without a partition table, the
 * root filesystem's file.
 */
async function writeImageFile(
  plan: ImagePlan,
  parts: readonly DiskPart[],
  root: PendingFilesystem,
  imagePath: string,
  workDir: string,
  compression: Compression,
  emit: EventSink,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { options } = plan;
  const diskBytes = plan.totalSectors * SECTOR;
  const describe = `writing ${plan.imageFileName} (${formatBytes(diskBytes)})`;
  const route = imageRoute(options.format, compression);
  if (route.kind === 'one-pass' && route.container === 'raw' && plan.table.kind === 'none') {
    await step(emit, 'write', describe, () => reportingBytes(byteProgress(emit, 'write'), () => writeFilesystemAsImage(root, imagePath, diskBytes)));
    return;
  }
  const identity = options.deterministic ? { seed: `${options.rootGPUID}:${options.name}`, unixTime: DETERMINISTIC_EPOCH } : null;
  if (route.kind === 'one-pass') {
    await step(emit, 'write', describe, () => reportingBytes(byteProgress(emit, 'write'), () => writeDisk(imagePath, route.container, diskBytes, parts, identity)));
    return;
  }
  const rawDisk = path.join(workDir, 'disk.raw');
  await step(emit, 'write', `writing the ${formatBytes(diskBytes)} disk`, () => reportingBytes(byteProgress(emit, 'write'), () => writeDisk(rawDisk, 'raw', diskBytes, parts)));
  const onProgress = byteProgress(emit, 'convert');
  if (route.kind === 'deflate') {
    await step(emit, 'convert', `${describe}, deflating on every core`, () => writeCompressedQcow2(rawDisk, diskBytes, imagePath, { onProgress, signal }));
    return;
  }
  await step(emit, 'convert', describe, () =>
    convertImage({ input: rawDisk, output: imagePath, format: options.format, compression, onProgress: (percent) => onProgress((percent / 100) * diskBytes, diskBytes) }),
  );
}

/** Byte progress of `step` as events, one per whole percent at most: a --json log of a large disk stays short. */
function byteProgress(emit: EventSink, step: BuildStep): (done: number, total: number) => void {
  let shownPercent = -1;
  return (done, total) => {
    const percent = Math.floor((done / total) * 100);
    if (percent === shownPercent) return;
    shownPercent = percent;
    emit({ type: 'progress', step, done: Math.round(done), total, unit: 'bytes' });
  };
}

/**
 * A raw image without a partition table is its root filesystem's file: filled where it
 * was formatted and renamed into place, or copied when the output is on another filesystem.
 */
async function writeFilesystemAsImage(root: PendingFilesystem, imagePath: string, diskBytes: number): Promise<void> {
  await root.fill({ path: root.file, map: identityMap(root.sizeBytes) });
  try {
    await rename(root.file, imagePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await writeDisk(imagePath, 'raw', diskBytes, [filePart(0, diskBytes, root.file)]);
  }
}

/** Gives the scanned entries the owners `contents` asked for (everything else stays root's); in place, as a copy of a large tree would double it. */
function assignOwners(tree: TreeEntry[], owners: readonly OwnedPath[]): TreeEntry[] {
  if (owners.length === 0) return tree;
  for (const entry of tree) {
    const owner = ownerOf(owners, entry.path);
    if (owner) entry.owner = owner;
  }
  return tree;
}

function describeTable(plan: ImagePlan): string {
  if (plan.table.kind === 'none') return 'the image (no partition table)';
  return `a ${plan.partitionTableType} ${plan.table.kind.toUpperCase()} table with ${plan.table.partitions.length} partitions`;
}
