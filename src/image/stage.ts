/**
 * Staging: the directory tree a filesystem tool reads. Store files are hard-linked,
 * not copied; where the kernel refuses (another filesystem, protected_hardlinks for a
 * file we do not own) cp falls back to a reflink or a copy.
 */
import { mkdir, rm } from 'node:fs/promises';
import { runTool, ToolFailedError } from '../tools.js';

/** Puts each store path at the top of `dest` (`dest/<hash>-<name>`), as an onlyNixStore image holds them. */
export async function stageStorePaths(storePaths: string[], dest: string): Promise<'linked' | 'copied'> {
  await mkdir(dest, { recursive: true });
  if (storePaths.length === 0) return 'linked';
  try {
    await runTool('cp', ['-a', '--link', ...storePaths, dest + '/']);
    return 'linked';
  } catch (error) {
    if (!(error instanceof ToolFailedError)) throw error;
    await removeStagedTree(dest);
    await mkdir(dest, { recursive: true });
    await runTool('cp', ['-a', '--reflink=auto', ...storePaths, dest + '/']);
    return 'copied';
  }
}

/**
 * Removes a folder that may hold a staged tree: store directories are staged read-only
 * (0555), which only root may empty as they are, so the folders are made writable first
 * (a Nix builder and `nixdisk build` as an ordinary user are not root). Only folders:
 * staged files may be hard links to the store's own, whose modes must not change.
 */
export async function removeStagedTree(dir: string): Promise<void> {
  await runTool('find', [dir, '-type', 'd', '!', '-perm', '-u+w', '-exec', 'chmod', 'u+w', '{}', '+']).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
