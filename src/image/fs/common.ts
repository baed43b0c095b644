/** Plumbing shared by the filesystem writers: output-file hygiene, the size search. */
import { lstat, mkdtemp, open, rename, rm, truncate } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fsTypeFacts, labelProblem } from '../../fstypes.js';
import { FilesystemTooSmallError, type FilesystemBuild, type Fit } from './filesystem.js';
import { isSecondName, scanTree, type TreeEntry } from './tree.js';

/** Refuses to overwrite: a build writes only files it created itself. */
export async function assertAbsent(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  throw new Error(`refusing to overwrite existing file ${path}`);
}

/** Creates `path` as a sparse file of `sizeBytes`; it must not exist yet. */
export async function createSparseFile(path: string, sizeBytes: number): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.truncate(sizeBytes);
  } finally {
    await handle.close();
  }
}

/** An output inside the source tree would be copied into itself (and scratch files beside it too). */
export function assertOutsideSource(sourceDir: string | null, output: string): void {
  if (sourceDir === null) return;
  const fromSource = relative(resolve(sourceDir), resolve(output));
  if (!fromSource.startsWith('..') && !isAbsolute(fromSource)) {
    throw new Error(`the output ${output} lies inside the source tree ${sourceDir}`);
  }
}

/**
 * Runs `write` (which creates `build.output`), removing whatever it left there when it
 * fails, so a failed build never leaves a half-written filesystem behind.
 */
export async function writingOutput<T>(build: { output: string; sourceDir: string | null }, write: () => Promise<T>): Promise<T> {
  const { output } = build;
  assertOutsideSource(build.sourceDir, output);
  await assertAbsent(output);
  try {
    return await write();
  } catch (error) {
    await rm(output, { force: true });
    throw error;
  }
}

/** A scratch directory beside `near`, removed with everything in it when `use` settles. */
export async function withScratchDir<T>(near: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(near, '.nixdisk-fs-'));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function assertLabelFits(fsType: string, label: string): void {
  const facts = fsTypeFacts(fsType);
  if (!facts || facts.labelMaxBytes === null) return;
  const problem = labelProblem(facts, label);
  if (problem) throw new Error(problem);
}

/** Latest time the on-disk formats below store without the year-2038 extension fields. */
export function assertEpochInRange(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0x7fffffff) {
    throw new Error(`epoch ${epoch} is not a whole number of seconds between 0 and 2147483647`);
  }
}

/** A rough upper bound of the bytes the tree occupies in 4 KiB blocks: the starting point of size searches. */
export function roughTreeBytes(entries: readonly TreeEntry[]): number {
  const seen = new Set<string>();
  let bytes = 4096;
  for (const entry of entries) {
    if (isSecondName(entry, seen)) continue;
    bytes += Math.ceil(entry.size / 4096) * 4096 + 256;
    if (entry.kind === 'directory') bytes += 4096;
  }
  return bytes;
}

export interface SizeSearch {
  build: Omit<FilesystemBuild, 'sizeBytes'>;
  /** Builds at one size; throws FilesystemTooSmallError when it does not fit. */
  create(build: FilesystemBuild): Promise<void>;
  /** First size to try. */
  start: number;
  /** Sizes known (or required by the tool) to fail; the search never goes below it. */
  floor: number;
  granularity: number;
  /** The next size to try after a failure at `size`; doubling unless the start is known to be close. */
  grow?: (size: number) => number;
}

/**
 * Finds the smallest size (a multiple of `granularity`) at which `create` succeeds by
 * real builds: grow from `start` until one fits, then bisect between the last failure
 * (or the floor) and the smallest success. The best build so far is kept and renamed
 * to the output, so the final size is never built twice. Assumes fitting is monotone
 * in the size (true for each tool here except at FAT's type and ext4's usage-type
 * thresholds, where a bigger size can hold less; the search then settles on a size
 * that fits, not necessarily the global minimum).
 */
export async function createSmallestBySearch(search: SizeSearch): Promise<number> {
  const { build, granularity } = search;
  const output = build.output;
  assertOutsideSource(build.sourceDir, output);
  await assertAbsent(output);
  const attemptPath = (size: number) => `${output}.try-${size}`;
  let best: number | null = null;
  const attempt = async (size: number): Promise<boolean> => {
    try {
      await search.create({ ...build, output: attemptPath(size), sizeBytes: size });
    } catch (error) {
      await rm(attemptPath(size), { force: true });
      if (error instanceof FilesystemTooSmallError) return false;
      throw error;
    }
    if (best !== null) await rm(attemptPath(best), { force: true });
    best = size;
    return true;
  };
  try {
    let failed = Math.max(0, roundDown(search.floor, granularity) - granularity);
    let size = Math.max(roundUpTo(search.start, granularity), failed + granularity);
    while (!(await attempt(size))) {
      failed = size;
      size = roundUpTo((search.grow ?? ((last) => last * 2))(size), granularity);
    }
    let fits = size;
    while (fits - failed > granularity) {
      const middle = roundDown((failed + fits) / 2, granularity);
      if (await attempt(middle)) fits = middle;
      else failed = middle;
    }
    await rename(attemptPath(fits), output);
    best = null;
    return fits;
  } finally {
    if (best !== null) await rm(attemptPath(best), { force: true });
  }
}

/**
 * createMinimal for the writers sized by real builds: scan the tree, start the search
 * from `startFor(entries)`, never go below `floor`.
 */
export function minimalBySearch(
  create: (build: FilesystemBuild) => Promise<void>,
  startFor: (entries: readonly TreeEntry[]) => number,
  floor: number,
): (build: Omit<FilesystemBuild, 'sizeBytes'>) => Promise<number> {
  return async (build) => {
    await assertAbsent(build.output);
    const entries = await scanTree(build.sourceDir);
    return createSmallestBySearch({ build, create, start: startFor(entries), floor, granularity: 4096 });
  };
}

export function roundUpTo(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

export function roundDown(value: number, step: number): number {
  return Math.floor(value / step) * step;
}

/** The size a Fit allows for `neededBytes`. */
export function fittedSize(fit: Fit, neededBytes: number): number {
  return fit.sizeFor ? fit.sizeFor(neededBytes) : roundUpTo(neededBytes, 4096);
}

/**
 * Read-only formats (erofs, squashfs) are built whole at their natural size: `create`
 * builds beside the output, fails with the needed size when that is larger than asked
 * for, and pads with zeros up to the asked size; `createMinimal` keeps the natural size
 * rounded up to 4 KiB.
 */
export async function createReadOnlyImage(
  fsType: string,
  build: Omit<FilesystemBuild, 'sizeBytes'> & { sizeBytes: number | null },
  writeImage: (path: string) => Promise<void>,
): Promise<number> {
  assertOutsideSource(build.sourceDir, build.output);
  await assertAbsent(build.output);
  const building = `${build.output}.building`;
  await assertAbsent(building);
  try {
    await writeImage(building);
    const needed = roundUpTo((await lstat(building)).size, 4096);
    if (build.sizeBytes !== null && needed > build.sizeBytes) {
      throw new FilesystemTooSmallError(fsType, build.sizeBytes, 'the image does not fit', needed);
    }
    const size = build.sizeBytes ?? needed;
    await truncate(building, size);
    await rename(building, build.output);
    return size;
  } finally {
    await rm(building, { force: true });
  }
}
