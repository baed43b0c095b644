/**
 * A nixpkgs in which only nixos/lib/make-disk-image.nix is replaced, by nixdisk's
 * recorder (nixlib/recorder.nix): evaluating a file or a flake against it yields the
 * make-disk-image call's arguments while every other file is read by plain `import`,
 * which Nix caches. The scopedImport shim cannot keep that cache: with 2000 modules that
 * each import one shared file it evaluated 6× slower than plain Nix
 * (bench/interception-overhead.ts, README).
 *
 * Two shapes:
 * - `link` (for -I nixpkgs=…): real folders down to nixos/lib and nixos/modules, every
 *   other entry a symlink into the original. Files in those folders are copied, not
 *   linked: Nix follows a symlinked file to its target and would resolve its relative
 *   imports (eval-config.nix's `../modules`) in the original tree. nixos/modules is real
 *   because modules name the file as the string "${modulesPath}/../lib/make-disk-image.nix",
 *   whose `..` the kernel resolves after following a symlinked modules/ out of the substitute.
 * - `copy` (for a flake's --override-input): the whole tree, since a flake input is
 *   copied to the store and pure evaluation may not follow links out of it.
 */
import { copyFile, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package.js';
import { runTool } from '../tools.js';

/** The folder of the replaced file. */
const PATH_TO_FILE = ['nixos', 'lib'];
/** Folders that must be real in a linked substitute (see above), each given with its parents. */
const REAL_FOLDERS = new Set(['', 'nixos', 'nixos/lib', 'nixos/modules']);
const RECORDER_FOLDER = 'nixdisk-recorder';
const RECORDER_FILES = ['recorder.nix', 'serialize-args.nix', 'make-disk-image-signature.nix'];

export async function substituteNixpkgs(nixpkgs: string, dest: string, shape: 'link' | 'copy'): Promise<void> {
  if (shape === 'copy') {
    await runTool('cp', ['-R', '--no-preserve=mode,ownership', nixpkgs, dest]);
    await runTool('chmod', ['-R', 'u+w', dest]);
  } else {
    await mirror(nixpkgs, dest, '');
  }
  const lib = path.join(dest, ...PATH_TO_FILE);
  await mkdir(path.join(lib, RECORDER_FOLDER), { recursive: true });
  for (const file of RECORDER_FILES) await copyFile(path.join(PACKAGE_ROOT, 'nixlib', file), path.join(lib, RECORDER_FOLDER, file));
  await writeFile(
    path.join(lib, 'make-disk-image.nix'),
    `# nixdisk: this nixpkgs is a substitute in which only this file differs; see src/nix/substitute.ts.\n(import ./${RECORDER_FOLDER}/recorder.nix).recordCall\n`,
  );
}

async function mirror(source: string, dest: string, relative: string): Promise<void> {
  await mkdir(dest);
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name);
    const to = path.join(dest, entry.name);
    const inside = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory() && REAL_FOLDERS.has(inside)) await mirror(from, to, inside);
    else if (entry.isFile()) await copyFile(from, to);
    else await symlink(from, to);
  }
}
