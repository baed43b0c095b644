/**
 * The output folder is built under a temporary sibling name and renamed into place only
 * when everything succeeded, so a failed or interrupted build leaves nothing half-written.
 * An existing folder is replaced only when it is itself a nixdisk/nixpkgs-style output;
 * anything else is refused rather than lost.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

const PRODUCTS = path.join('nix-support', 'hydra-build-products');

export class OutputDir {
  private constructor(
    readonly finalDir: string,
    readonly tempDir: string,
  ) {}

  static async begin(outDir: string): Promise<OutputDir> {
    const finalDir = path.resolve(outDir);
    if (await exists(finalDir)) {
      if (!(await exists(path.join(finalDir, PRODUCTS)))) {
        throw new Error(`${finalDir} exists and is not an image output folder (no ${PRODUCTS}); refusing to replace it`);
      }
    }
    await mkdir(path.dirname(finalDir), { recursive: true });
    const tempDir = temporarySibling(finalDir, 'tmp');
    await mkdir(tempDir);
    return new OutputDir(finalDir, tempDir);
  }

  /** Moves the finished folder into place, replacing an earlier output as one rename. */
  async commit(): Promise<void> {
    let previous: string | undefined;
    if (await exists(this.finalDir)) {
      previous = temporarySibling(this.finalDir, 'old');
      await rename(this.finalDir, previous);
    }
    await rename(this.tempDir, this.finalDir);
    if (previous) await rm(previous, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    await rm(this.tempDir, { recursive: true, force: true });
  }
}

function temporarySibling(dir: string, purpose: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.nixdisk-${purpose}-${randomBytes(4).toString('hex')}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
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
