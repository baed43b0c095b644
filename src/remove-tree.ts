/**
 * Removing nixdisk's temporary trees as the user who made them. Copies of store paths
 * keep the store's read-only directories (r-x), and an ordinary user cannot unlink the
 * entries of a directory without write permission on it: a plain `rm -rf` stops with
 * EACCES and leaves the tree in $TMPDIR. Root never meets this (it ignores modes).
 */
import { chmodSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `rm -rf target`, making the tree's own directories writable first when that is what
 * stops it. The first attempt is synchronous: Node's asynchronous `rm` removes
 * subdirectories concurrently and rejects at the first error while the others go on
 * unlinking, so a caller that rebuilds the tree right away (stageStorePaths' copy after
 * its hard links were refused) had its new entries deleted under it.
 */
export async function removeTree(target: string): Promise<void> {
  try {
    rmSync(target, { recursive: true, force: true });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
  }
  makeDirectoriesWritable(target);
  await rm(target, { recursive: true, force: true });
}

/**
 * Gives the owner rwx on every directory under (and including) `dir`, never following
 * symlinks. Synchronous: the walk is one lstat and at most one chmod per directory,
 * and awaiting each call costs seconds on ten thousand entries (see scanTree). A
 * directory that is not ours keeps its mode, and the removal then names it.
 */
function makeDirectoriesWritable(dir: string): void {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    return;
  }
  if (!stat.isDirectory()) return;
  if ((stat.mode & 0o700) !== 0o700) {
    try {
      chmodSync(dir, (stat.mode & 0o7777) | 0o700);
    } catch {
      return;
    }
  }
  for (const name of readdirSync(dir)) makeDirectoriesWritable(join(dir, name));
}
