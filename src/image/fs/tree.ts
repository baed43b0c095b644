/**
 * The source tree of a filesystem as the writers see it: every entry, parents first,
 * read from a host directory and the store paths grafted into it.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';

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
 * read where it is), parents before children, names in byte order.
 *
 * The grafts are read first: they are most of the work (the store paths), and while
 * the staged root is still being written, until `rootWritten` settles, by tools that
 * go on between one graft and the next. Synchronous calls within a graft on purpose:
 * one awaited lstat per entry cost 1.3 s on a 10k-entry store where the same walk done
 * synchronously takes 0.1 s.
 */
export async function scanTree(root: string, grafts: readonly string[] = [], graftDir = '', rootWritten?: Promise<unknown>): Promise<TreeEntry[]> {
  const grafted: GraftedEntries = { dir: graftDir, byName: new Map() };
  for (const graft of grafts) {
    const name = basename(graft);
    const path = graftDir === '' ? name : `${graftDir}/${name}`;
    const entries: TreeEntry[] = [];
    addEntry(entries, path, { host: graft, cut: path.length }, null);
    grafted.byName.set(name, { host: graft, entries });
    await new Promise((resolve) => setImmediate(resolve));
  }
  await rootWritten;
  const entries: TreeEntry[] = [];
  walkDirectory(entries, '', { host: join(root, '/'), cut: 0 }, grafted);
  return entries;
}

/** The grafts' entries, read ahead, by the name each has in the directory `dir`. */
interface GraftedEntries {
  dir: string;
  byName: Map<string, { host: string; entries: TreeEntry[] }>;
}

function addEntry(entries: TreeEntry[], path: string, origin: Origin, grafted: GraftedEntries | null): void {
  const entry = new ScannedEntry(path, origin, lstatSync(origin.host + path.slice(origin.cut)));
  entries.push(entry);
  if (entry.kind === 'directory') walkDirectory(entries, path, origin, grafted);
}

function walkDirectory(entries: TreeEntry[], relative: string, origin: Origin, grafted: GraftedEntries | null): void {
  const dir = origin.host + relative.slice(origin.cut);
  const names = readdirSync(dir);
  const graftsHere = grafted && relative === grafted.dir ? grafted.byName : undefined;
  if (graftsHere) {
    for (const name of names) {
      const clash = graftsHere.get(name);
      if (clash) throw new Error(`two sources for /${relative === '' ? '' : `${relative}/`}${name} in the tree: ${join(dir, name)} and ${clash.host}`);
    }
    names.push(...graftsHere.keys());
  }
  for (const name of inByteOrder(names)) {
    const ahead = graftsHere?.get(name);
    // One push per entry: a spread of a large graft's entries would overflow the stack.
    if (ahead) for (const entry of ahead.entries) entries.push(entry);
    else addEntry(entries, relative === '' ? name : `${relative}/${name}`, origin, grafted);
  }
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

