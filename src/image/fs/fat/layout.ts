/**
 * Where directories and files go on a freshly formatted FAT: each in one contiguous run
 * of clusters, one after the other in the order asked, from the start of the free space.
 * Contiguous files cost firmware and boot loaders no seeking, and the order makes the
 * layout a function of the tree alone.
 */
import type { TreeEntry } from '../tree.js';
import { directorySlots } from './directory-entry.js';
import { shortNames, type ShortName } from './short-name.js';

export interface ClusterLayout {
  /** First cluster of each run, in the order asked; 0 for a run of no clusters (an empty file). */
  starts: number[];
  /** The first cluster after the last run. */
  next: number;
}

export function clustersFor(bytes: number, clusterBytes: number): number {
  return Math.ceil(bytes / clusterBytes);
}

/** Consecutive runs of `lengths` clusters from cluster `first`; pure. */
export function layOutRuns(lengths: readonly number[], first: number): ClusterLayout {
  let next = first;
  const starts = lengths.map((length) => {
    if (length === 0) return 0;
    const start = next;
    next += length;
    return start;
  });
  return { starts, next };
}

/** One directory of the tree with what its entries take: short names and 32-byte slots. */
export interface DirectoryPlan {
  /** Tree path; '' for the root. */
  path: string;
  /** The directory's own tree entry; null for the root. */
  entry: TreeEntry | null;
  /** Its files and directories, in tree order. */
  children: TreeEntry[];
  shortNames: ShortName[];
  /** 32-byte slots its entries take (with `.` and `..` unless it is the root). */
  slots: number;
}

export const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);
/** The tree path of the directory holding `path`; '' for the root. */
export const parentPath = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));

/** The directories of `entries` (files and directories, parents first), the root first, then in tree order; pure. */
export function planDirectories(entries: readonly TreeEntry[]): DirectoryPlan[] {
  const root: DirectoryPlan = { path: '', entry: null, children: [], shortNames: [], slots: 0 };
  const byPath = new Map([['', root]]);
  for (const entry of entries) {
    const parent = byPath.get(parentPath(entry.path));
    if (!parent) throw new Error(`internal: ${entry.path} comes before its directory`);
    parent.children.push(entry);
    if (entry.kind === 'directory') byPath.set(entry.path, { path: entry.path, entry, children: [], shortNames: [], slots: 0 });
  }
  const directories = [...byPath.values()];
  for (const directory of directories) {
    const names = directory.children.map((child) => baseName(child.path));
    directory.shortNames = shortNames(names);
    directory.slots = directorySlots(
      names.map((longName, index) => ({ longName, needsLongName: directory.shortNames[index]!.needsLongName })),
      directory.entry !== null,
    );
  }
  return directories;
}
