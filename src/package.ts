/**
 * Where nixdisk's own files (nixlib/, grammar/, package.json) are: found by walking up
 * from this module, so it holds whether the code runs from src/ (vitest), from dist/src/
 * (tsc) or from the bundle's dist/nixdisk.js and dist/chunks/.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('nixdisk: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export const PACKAGE_ROOT = packageRoot();

/** The version in package.json, for `--version` (yargs would look beside node_modules, which the bundle is not). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
