/** Plumbing shared by the filesystem writers: output-file hygiene, tree scans, the size search. */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, mkdtemp, open, rename, rm, truncate } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { fsTypeFacts, labelProblem } from '../../fstypes.js';
import { FilesystemTooSmallError, type FilesystemBuild } from './filesystem.js';

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

export type EntryKind = 'file' | 'directory' | 'symlink' | 'other';

export interface TreeEntry {
  /** Path relative to the source root, '/'-separated, no leading slash. */
  path: string;
  /** Where it is read from on the host. */
  source: string;
  kind: EntryKind;
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  /** File type bits (st_mode & S_IFMT): tells the kinds of 'other' apart. */
  format: number;
  /** Device number of a character or block device, as st_rdev. */
  rdev: number;
  /** Whole seconds of the source's times, for filesystems that keep them when the build is not deterministic. */
  times: { atime: number; mtime: number; ctime: number };
  size: number;
  /** dev:ino, equal for hard links to the same file; looked at only when nlink > 1. */
  identity: string;
  nlink: number;
  linkTarget?: string;
  /** Owner in the filesystem; root (0:0) when absent, as cptofs leaves every file. */
  owner?: { uid: number; gid: number };
}

/** Where the entries below one host directory are read: `host` followed by their tree path past its first `cut` characters. */
interface Origin {
  host: string;
  cut: number;
}

/**
 * A scanned entry, kept small because a closure has tens of thousands: its source and
 * identity are derived when asked for rather than stored as strings, and its times are
 * plain numbers (together about half the memory of the object literal it replaced).
 */
class ScannedEntry implements TreeEntry {
  readonly kind: EntryKind;
  readonly mode: number;
  readonly format: number;
  readonly rdev: number;
  readonly size: number;
  readonly nlink: number;
  readonly linkTarget: string | undefined;
  owner?: { uid: number; gid: number };
  private readonly atime: number;
  private readonly mtime: number;
  private readonly ctime: number;
  private readonly dev: number;
  private readonly ino: number;
  constructor(
    readonly path: string,
    private readonly origin: Origin,
    stat: Stats,
  ) {
    this.kind = stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : stat.isSymbolicLink() ? 'symlink' : 'other';
    this.mode = stat.mode & 0o7777;
    this.format = stat.mode & 0o170000;
    this.rdev = stat.rdev;
    this.size = stat.size;
    this.nlink = stat.nlink;
    this.atime = Math.floor(stat.atimeMs / 1000);
    this.mtime = Math.floor(stat.mtimeMs / 1000);
    this.ctime = Math.floor(stat.ctimeMs / 1000);
    this.dev = stat.dev;
    this.ino = stat.ino;
    this.linkTarget = this.kind === 'symlink' ? readlinkSync(this.source) : undefined;
  }
  get source(): string {
    return this.origin.host + this.path.slice(this.origin.cut);
  }
  get times(): { atime: number; mtime: number; ctime: number } {
    return { atime: this.atime, mtime: this.mtime, ctime: this.ctime };
  }
  get identity(): string {
    return `${this.dev}:${this.ino}`;
  }
}

/**
 * Every entry under `root` (not the root itself), and each graft (a host path that
 * appears in the directory `graftDir` of the tree, '' for its root, under its base name,
 * read where it is), parents before children, names in byte order. Synchronous calls
 * on purpose: one awaited lstat per entry cost 1.3 s on a 10k-entry store where the
 * same walk done synchronously takes 0.1 s.
 */
export async function scanTree(root: string, grafts: readonly string[] = [], graftDir = ''): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const add = (path: string, origin: Origin): void => {
    const entry = new ScannedEntry(path, origin, lstatSync(origin.host + path.slice(origin.cut)));
    entries.push(entry);
    if (entry.kind === 'directory') walk(path, origin);
  };
  const walk = (relative: string, origin: Origin): void => {
    const dir = origin.host + relative.slice(origin.cut);
    const children = new Map<string, Origin>(readdirSync(dir).map((name) => [name, origin]));
    if (relative === graftDir) {
      for (const graft of grafts) {
        const name = basename(graft);
        const clash = children.get(name);
        if (clash) throw new Error(`two sources for /${graftDir === '' ? '' : `${graftDir}/`}${name} in the tree: ${join(dir, name)} and ${graft}`);
        children.set(name, { host: graft, cut: (relative === '' ? name : `${relative}/${name}`).length });
      }
    }
    for (const name of inByteOrder([...children.keys()])) add(relative === '' ? name : `${relative}/${name}`, children.get(name)!);
  };
  walk('', { host: join(root, '/'), cut: 0 });
  return entries;
}

/**
 * Names sorted by their UTF-8 bytes. JavaScript's own comparison orders UTF-16 code
 * units, which agrees with UTF-8's byte order except where surrogate pairs meet
 * U+E000–U+FFFF; only a directory with such names pays for encoding every name.
 */
function inByteOrder(names: string[]): string[] {
  if (!names.some((name) => /[\uD800-\uFFFF]/.test(name))) return names.sort();
  const bytes = new Map(names.map((name) => [name, Buffer.from(name)]));
  return names.sort((a, b) => Buffer.compare(bytes.get(a)!, bytes.get(b)!));
}

/**
 * Whether `entry` is a further name of a file met before, remembering it in `seen`
 * otherwise; only files with more than one link are remembered, so a closure of single
 * links costs no set of identities.
 */
export function isSecondName(entry: TreeEntry, seen: Set<string>): boolean {
  if (entry.kind === 'directory' || entry.nlink < 2) return false;
  if (seen.has(entry.identity)) return true;
  seen.add(entry.identity);
  return false;
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

/**
 * Measures with createMinimal into a scratch file beside `workDir` and removes it, then
 * adds `spareBytes`: for the writers that use this, free space grows about one for one
 * with the size (ext4 measures its free space exactly instead; read-only formats just
 * carry the spare bytes as padding).
 */
export async function measureBySmallestBuild(
  createMinimal: (build: Omit<FilesystemBuild, 'sizeBytes'>) => Promise<number>,
  build: Omit<FilesystemBuild, 'output' | 'sizeBytes'>,
  workDir: string,
  spareBytes = 0,
): Promise<number> {
  const minimum = await withScratchDir(workDir, (dir) => createMinimal({ ...build, output: join(dir, 'measure.img') }));
  return minimum + roundUpTo(spareBytes, 4096);
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
