/** A small source tree with every kind of entry a store holds, and a tree comparison for round trips. */
import { createHash } from 'node:crypto';
import { chmod, chown, copyFile, opendir, lchown, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const UNICODE_NAME = 'naïve file ✓.txt';

/** Deterministic pseudo-random bytes, so the big file is not all zeros (which could hide in sparse holes). */
function pseudoRandomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

export interface SampleTreeOptions {
  symlinks?: boolean;
  /** Names with characters a tool cannot take (spaces) are left out when false. */
  spacedNames?: boolean;
}

/** Writes the sample tree into `dir` (which must exist and be empty). */
export async function writeSampleTree(dir: string, options: SampleTreeOptions = {}): Promise<void> {
  const { symlinks = true, spacedNames = true } = options;
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'share/doc/deep/er'), { recursive: true });
  await mkdir(join(dir, 'empty-dir'));
  await writeFile(join(dir, 'bin/hello'), '#!/bin/sh\necho hello\n');
  await chmod(join(dir, 'bin/hello'), 0o555);
  await writeFile(join(dir, 'bin/tool'), 'tool\n');
  await chmod(join(dir, 'bin/tool'), 0o755);
  await writeFile(join(dir, 'share/doc/readme'), 'read me\n');
  await chmod(join(dir, 'share/doc/readme'), 0o444);
  await writeFile(join(dir, 'share/doc/deep/er/nested.txt'), 'nested\n');
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, 'share/.hidden'), 'dotfile\n');
  await writeFile(join(dir, 'big.bin'), pseudoRandomBytes(3 * 1024 * 1024 + 123, 7));
  await link(join(dir, 'bin/tool'), join(dir, 'bin/tool-hardlink'));
  await writeFile(join(dir, spacedNames ? UNICODE_NAME : 'naïve-✓.txt'), 'unicode\n');
  if (symlinks) {
    await symlink('hello', join(dir, 'bin/hello-link'));
    await symlink('../share/doc', join(dir, 'bin/doc-link'));
    await symlink('/nix/store/does-not-exist', join(dir, 'dangling'));
  }
  if (process.getuid?.() === 0) {
    await chown(join(dir, 'bin/tool'), 1000, 1000);
    await chown(join(dir, 'share/doc/readme'), 70000, 70001);
  }
}

export async function makeSampleTree(options: SampleTreeOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nixdisk-src-'));
  await writeSampleTree(dir, options);
  return dir;
}

/** Changes what a deterministic build must ignore: atime/mtime (and so ctime) of every entry. */
export async function touchTree(dir: string, when: Date): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) continue;
    if (stat.isDirectory()) await touchTree(path, when);
    await utimes(path, when, when);
  }
  await utimes(dir, when, when);
}

export interface TreeDescription {
  [path: string]: string;
}

/**
 * One line per entry: kind, permission bits, and the content hash or link target —
 * what a NAR hash depends on (plus the full mode, which NAR reduces to "executable").
 */
export async function describeTree(dir: string, options: { ignore?: string[]; modes?: boolean } = {}): Promise<TreeDescription> {
  const { ignore = [], modes = true } = options;
  const description: TreeDescription = {};
  const walk = async (relative: string): Promise<void> => {
    for (const name of (await readdir(join(dir, relative))).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      if (ignore.includes(path)) continue;
      const full = join(dir, path);
      const stat = await lstat(full);
      const mode = modes ? ` ${(stat.mode & 0o777).toString(8)}` : '';
      if (stat.isSymbolicLink()) description[path] = `symlink -> ${await readlink(full)}`;
      else if (stat.isDirectory()) {
        description[path] = `dir${mode}`;
        await walk(path);
      } else {
        const hash = createHash('sha256').update(await readFile(full)).digest('hex');
        description[path] = `file${mode} ${hash}`;
      }
    }
  };
  await walk('');
  return description;
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

export async function removeTree(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * A directory for a re-copied tree on another filesystem than the source when one is
 * at hand: tmpfs lists entries newest first, the source's ext4 in hash order, so the
 * copy is read in a different order.
 */
export async function makeCopyDir(prefix: string): Promise<string> {
  try {
    return await mkdtemp(join('/dev/shm', prefix));
  } catch {
    return mkdtemp(join(tmpdir(), prefix));
  }
}

/**
 * Copies a tree entry by entry (fresh inodes, fresh ctimes, and in a makeCopyDir on
 * tmpfs, a readdir order of reversed names), keeping modes, owners, hard links and
 * symlinks: what a build must not notice.
 */
export async function recopyTree(from: string, to: string): Promise<void> {
  const copied = new Map<string, string>();
  const copyDir = async (relative: string): Promise<void> => {
    const names = (await readdir(join(from, relative))).sort();
    for (const name of names) {
      const path = join(relative, name);
      const source = join(from, path);
      const target = join(to, path);
      const info = await lstat(source);
      if (info.isSymbolicLink()) {
        await symlink(await readlink(source), target);
        if (process.getuid?.() === 0) await lchown(target, info.uid, info.gid);
        continue;
      }
      if (info.isDirectory()) {
        await mkdir(target);
        await copyDir(path);
      } else {
        const identity = `${info.dev}:${info.ino}`;
        const earlier = copied.get(identity);
        if (earlier !== undefined) {
          await link(earlier, target);
          continue;
        }
        await copyFile(source, target);
        copied.set(identity, target);
      }
      await chmod(target, info.mode & 0o7777);
      if (process.getuid?.() === 0) await chown(target, info.uid, info.gid);
    }
  };
  await copyDir('');
}

/** Names in the order the filesystem lists them (fs.readdir sorts; opendir does not). */
export async function rawDirectoryOrder(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of await opendir(dir)) names.push(entry.name);
  return names;
}
