/**
 * Staging: the directory tree a filesystem tool reads. Store files are hard-linked,
 * not copied; where the kernel refuses (another filesystem, protected_hardlinks for a
 * file we do not own) cp falls back to a reflink or a copy.
 */
import { mkdir } from 'node:fs/promises';
import { removeScratchTree } from './fs/common.js';
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
    await removeScratchTree(dest);
    await mkdir(dest, { recursive: true });
    await runTool('cp', ['-a', '--reflink=auto', ...storePaths, dest + '/']);
    return 'copied';
  }
}
