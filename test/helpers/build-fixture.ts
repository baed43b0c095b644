/**
 * Integration-test plumbing: a make-disk-image call over test/fixtures/closure.nix,
 * written as a user would write it, and the real tools that judge the result.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { PACKAGE_ROOT } from '../../src/package.js';
import { toolSearchPath } from '../../src/tools.js';

export const FIXTURE_CLOSURE = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'closure.nix');
export const CLI = path.join(PACKAGE_ROOT, 'dist', 'nixdisk.js');
export const toolEnv = { PATH: toolSearchPath(process.env.PATH) };

/** A .nix file holding one store-only make-disk-image call with `extra` arguments (Nix source). */
export async function writeCall(dir: string, name: string, extra: Record<string, string>): Promise<string> {
  const lines = Object.entries(extra).map(([key, value]) => `  ${key} = ${value};`);
  const file = path.join(dir, `${name}.nix`);
  await writeFile(
    file,
    `import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { };
  lib = { };
  config = { };
  onlyNixStore = true;
  installBootLoader = false;
  copyChannel = false;
  additionalPaths = [ (import ${FIXTURE_CLOSURE}) ];
${lines.join('\n')}
}
`,
  );
  return file;
}

export function nixString(text: string): string {
  return JSON.stringify(text).replace(/\$\{/g, '\\${');
}

export async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The image as raw bytes: the file itself, or a qemu-img conversion beside it. */
export async function asRaw(image: string, format: string, dir: string): Promise<string> {
  if (format === 'raw') return image;
  const raw = path.join(dir, `${path.basename(image)}.raw`);
  await execa('qemu-img', ['convert', '-O', 'raw', image, raw], { env: toolEnv });
  return raw;
}

/** Copies `size` bytes at `offset` of `raw` into a file of their own (for e2fsck). */
export async function carve(raw: string, offset: number, size: number, output: string): Promise<string> {
  await execa('dd', [`if=${raw}`, `of=${output}`, 'bs=1M', `skip=${offset}`, `count=${size}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none']);
  return output;
}
