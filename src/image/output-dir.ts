/**
 * The output folder is built under a temporary sibling name and renamed into place only
 * when everything succeeded, so a failed or interrupted build leaves nothing half-written.
 * An existing folder is replaced only when it is itself a nixdisk/nixpkgs-style output;
 * anything else is refused rather than lost.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { removeTree } from '../remove-tree.js';

const PRODUCTS = path.join('nix-support', 'hydra-build-products');

export class OutputDir {
  private constructor(
    readonly finalDir: string,
    readonly tempDir: string,
    /** The outermost parent folder this build created, removed again when the build fails. */
    private readonly createdParent: string | undefined,
  ) {}

  /**
   * Throws unless `outDir` is absent or an earlier image output that may be replaced.
   * Cheap, so a build can say so before it spends minutes realising a closure.
   */
  static async assertReplaceable(outDir: string): Promise<void> {
    const finalDir = path.resolve(outDir);
    if ((await exists(finalDir)) && !(await exists(path.join(finalDir, PRODUCTS)))) {
      throw new Error(`${finalDir} exists and is not an image output folder (no ${PRODUCTS}); refusing to replace it`);
    }
  }

  /**
   * A Nix builder's `$out` is written where it is (`inPlace`): Nix owns that fresh path,
   * removes it when the build fails, and postVM must see its real name.
   */
  static async begin(outDir: string, { inPlace = false } = {}): Promise<OutputDir> {
    if (inPlace) {
      const finalDir = path.resolve(outDir);
      await mkdir(finalDir);
      return new OutputDir(finalDir, finalDir, undefined);
    }
    await OutputDir.assertReplaceable(outDir);
    const finalDir = path.resolve(outDir);
    const createdParent = await mkdir(path.dirname(finalDir), { recursive: true });
    const tempDir = temporarySibling(finalDir, 'tmp');
    await mkdir(tempDir);
    return new OutputDir(finalDir, tempDir, createdParent);
  }

  /** Moves the finished folder into place, replacing an earlier output as one rename. */
  async commit(): Promise<void> {
    if (this.tempDir === this.finalDir) return;
    let previous: string | undefined;
    if (await exists(this.finalDir)) {
      previous = temporarySibling(this.finalDir, 'old');
      await rename(this.finalDir, previous);
    }
    await rename(this.tempDir, this.finalDir);
    if (previous) await removeTree(previous);
  }

  async abort(): Promise<void> {
    await removeTree(this.tempDir);
    if (this.createdParent) await removeEmptyFolders(path.dirname(this.tempDir), this.createdParent);
  }
}

/** rmdir from `innermost` up to and including `outermost`, stopping at the first folder something else has filled meanwhile. */
async function removeEmptyFolders(innermost: string, outermost: string): Promise<void> {
  for (let dir = innermost; ; dir = path.dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
    if (dir === outermost || path.dirname(dir) === dir) return;
  }
}

function temporarySibling(dir: string, purpose: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.nixdisk-${purpose}-${randomBytes(4).toString('hex')}`);
}

/** lstat: a dangling symlink (an old nix-build `result` whose target was collected) exists too. */
async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** The line nixpkgs appends to $out/nix-support/hydra-build-products (FACTS §2). */
export function hydraBuildProductLine(format: string, imagePath: string): string {
  const productFormat = format === 'qcow2-compressed' ? 'qcow2' : format;
  return `file ${productFormat}-image ${imagePath}\n`;
}
