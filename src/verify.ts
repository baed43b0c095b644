/**
 * `nixdisk verify`: read an image back without mounting it and prove every store path
 * in it whole — its NAR hash equal to its registration — and the closure complete.
 * A full image brings its own Nix database, which is what its store is checked against
 * (every row's path present and whole, nothing in the store unregistered); store-only
 * images carry none, as in nixpkgs, so theirs come from the host's Nix store.
 */
import { mkdir, mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { filesystemFor } from './image/fs/index.js';
import { removeScratchTree } from './image/fs/common.js';
import { inspectImage, type FilesystemInfo, type ImageInfo } from './image/read.js';
import { closureOf, narHashOf, normalizeNarHash, type StorePathInfo } from './nix/closure.js';
import { NIX_DB_DIR, readNixDatabase } from './image/system/nix-db.js';
import { runNixTool } from './nix/run.js';
import { runTool } from './tools.js';

const STORE_ENTRY = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;
const STORE_DIR = '/nix/store';

export interface VerifyReport {
  image: string;
  filesystem: FilesystemInfo;
  /** Full images are checked against their own Nix database; store-only ones carry none. */
  registrationSource: 'image database' | 'host store';
  verified: string[];
  /** Present, registered, but the bytes differ from the registration. */
  corrupted: { path: string; expected: string; actual: string }[];
  /** Present in the image but registered nowhere nixdisk can see. */
  unregistered: string[];
  /** Referenced by a path in the image but absent from it. */
  missing: string[];
}

export function reportIsClean(report: VerifyReport): boolean {
  return report.corrupted.length === 0 && report.unregistered.length === 0 && report.missing.length === 0;
}

/** An image file, or an output folder (found through nix-support/hydra-build-products). */
export async function resolveImageFile(target: string): Promise<string> {
  const info = await stat(target).catch((error: NodeJS.ErrnoException) => {
    throw new Error(error.code === 'ENOENT' ? `${target}: no such file or folder` : `${target}: ${error.message}`);
  });
  if (!info.isDirectory()) return target;
  const products = await readFile(path.join(target, 'nix-support', 'hydra-build-products'), 'utf8').catch(() => {
    throw new Error(`${target} is a folder without nix-support/hydra-build-products: name the image file instead`);
  });
  const line = products.split('\n').find((l) => /^file \S+-image /.test(l));
  if (!line) throw new Error(`${target}/nix-support/hydra-build-products names no image`);
  // The recorded path is absolute; the folder may have moved since, so look beside the products file.
  return path.join(target, path.basename(line.split(' ').slice(2).join(' ')));
}

/** The filesystem that holds the store: the largest one that is not a FAT boot partition. */
export function rootFilesystemOf(info: ImageInfo): FilesystemInfo {
  const candidates = info.filesystems.filter((fs) => fs.type !== 'vfat').sort((a, b) => b.sizeBytes - a.sizeBytes);
  if (candidates.length === 0) throw new Error(`${info.file}: no root filesystem found (found: ${info.filesystems.map((f) => f.type).join(', ') || 'nothing'})`);
  return candidates[0]!;
}

export async function verifyImage(target: string, workRoot = os.tmpdir()): Promise<VerifyReport> {
  const image = await resolveImageFile(target);
  const workDir = await mkdtemp(path.join(workRoot, 'nixdisk-verify-'));
  try {
    const info = await inspectImage(image, workDir);
    const root = rootFilesystemOf(info);
    const fsFile = await carve(info.raw, root, info.virtualSizeBytes, workDir);
    const extracted = path.join(workDir, 'tree');
    const filesystem = filesystemFor(root.type);
    if (!filesystem.extract) throw new Error(`${root.type}: no userspace tool can read this filesystem without mounting it`);
    await mkdir(extracted);
    await filesystem.extract(fsFile, extracted);

    const fullImage = await isDirectory(path.join(extracted, 'nix', 'store'));
    const storeDir = fullImage ? path.join(extracted, 'nix', 'store') : extracted;
    const present = (await readdir(storeDir)).filter((name) => STORE_ENTRY.test(name)).map((name) => `${STORE_DIR}/${name}`).sort();
    const imageDb = path.join(extracted, NIX_DB_DIR, 'db.sqlite');
    const fromImage = fullImage && (await stat(imageDb).catch(() => null)) !== null;
    const registered = fromImage ? await registrationsFromImage(imageDb) : await registrationsFromHost(present);
    const byPath = new Map(registered.map((r) => [r.path, r]));

    const report: VerifyReport = {
      image,
      filesystem: root,
      registrationSource: fromImage ? 'image database' : 'host store',
      verified: [],
      corrupted: [],
      unregistered: [],
      // A registered path the store lacks is as missing as a reference to one.
      missing: fromImage ? registered.map((r) => r.path).filter((p) => !present.includes(p)) : [],
    };
    const presentSet = new Set(present);
    await forEachLimited(present, 4, async (storePath) => {
      const registration = byPath.get(storePath);
      if (!registration) {
        report.unregistered.push(storePath);
        return;
      }
      const actual = await narHashOf(path.join(storeDir, path.basename(storePath)));
      if (actual === registration.narHash) report.verified.push(storePath);
      else report.corrupted.push({ path: storePath, expected: registration.narHash, actual });
      for (const reference of registration.references) {
        if (!presentSet.has(reference) && !report.missing.includes(reference)) report.missing.push(reference);
      }
    });
    report.verified.sort();
    report.unregistered.sort();
    report.missing.sort();
    report.corrupted.sort((a, b) => a.path.localeCompare(b.path));
    return report;
  } finally {
    await removeScratchTree(workDir);
  }
}

/** The filesystem's bytes as a file of their own: the raw image itself, or a sparse copy of the partition. */
async function carve(raw: string, fs: FilesystemInfo, diskBytes: number, workDir: string): Promise<string> {
  if (fs.offsetBytes === 0 && fs.sizeBytes === diskBytes) return raw;
  const part = path.join(workDir, 'root.fs');
  await runTool('dd', [
    `if=${raw}`,
    `of=${part}`,
    'bs=1M',
    `skip=${fs.offsetBytes}`,
    `count=${fs.sizeBytes}`,
    'iflag=skip_bytes,count_bytes',
    'conv=sparse',
    'status=none',
  ]);
  return part;
}

async function registrationsFromImage(dbFile: string): Promise<StorePathInfo[]> {
  return (await readNixDatabase(dbFile)).map((row) => ({
    path: row.path,
    narHash: normalizeNarHash(row.hash),
    narSize: row.narSize,
    deriver: null,
    references: row.references,
  }));
}

async function registrationsFromHost(paths: string[]): Promise<StorePathInfo[]> {
  if (paths.length === 0) return [];
  const validity = await runNixTool('nix-store', ['--check-validity', '--print-invalid', ...paths]);
  const invalid = new Set(validity.stdout.split('\n').filter((l) => l !== ''));
  const valid = paths.filter((p) => !invalid.has(p));
  return (await closureOf(valid)).paths;
}

async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
