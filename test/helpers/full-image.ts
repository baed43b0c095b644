/**
 * Reading a full image's root filesystem without mounting it (debugfs), for the
 * full-image tests: entries with their mode, owner and link target, file contents,
 * and the Nix database (dumped, then read with sqlite3).
 */
import path from 'node:path';
import { execa } from 'execa';
import { PACKAGE_ROOT } from '../../src/package.js';
import { toolEnv } from './build-fixture.js';

export const FIXTURE_SYSTEM = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'system.nix');
export const FAKE_NIXPKGS = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'fake-nixpkgs');

export interface ImageEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkTarget?: string;
}

async function debugfs(fsFile: string, request: string): Promise<string> {
  const { stdout } = await execa('debugfs', ['-R', request, fsFile], { env: toolEnv, stripFinalNewline: false });
  return stdout;
}

/** One inode as `debugfs stat` shows it; undefined when the path does not exist. */
export async function entryOf(fsFile: string, imagePath: string): Promise<ImageEntry | undefined> {
  const out = await execa('debugfs', ['-R', `stat "${imagePath}"`, fsFile], { env: toolEnv });
  if (/File not found/.test(out.stderr)) return undefined;
  const text = out.stdout;
  const type = /Type: (\S+)/.exec(text)![1]!;
  // A target longer than 59 bytes lives in a data block (a "slow" symlink): read it there.
  const link = /Fast link dest: "(.*)"/.exec(text)?.[1] ?? (/Type: symlink/.test(text) ? await debugfs(fsFile, `cat "${imagePath}"`) : undefined);
  return {
    type,
    mode: parseInt(/Mode:\s+(\d+)/.exec(text)![1]!, 8),
    uid: Number(/User:\s+(\d+)/.exec(text)![1]),
    gid: Number(/Group:\s+(\d+)/.exec(text)![1]),
    ...(link !== undefined ? { linkTarget: link } : {}),
  };
}

export function catFile(fsFile: string, imagePath: string): Promise<string> {
  return debugfs(fsFile, `cat "${imagePath}"`);
}

/** Names in a directory of the image, without . and .. */
export async function listDirectory(fsFile: string, imagePath: string): Promise<string[]> {
  const text = await debugfs(fsFile, `ls -p "${imagePath}"`);
  return text
    .split('\n')
    .filter((line) => line.startsWith('/'))
    .map((line) => line.split('/')[5]!)
    .filter((name) => name !== '.' && name !== '..')
    .sort();
}

/** Copies a file out of the image (for the database). */
export async function dumpFile(fsFile: string, imagePath: string, hostPath: string): Promise<void> {
  await debugfs(fsFile, `dump "${imagePath}" "${hostPath}"`);
}

/** ValidPaths and Refs as sqlite3 prints them: path → hash, size, time, sorted references. */
export async function databaseRows(dbFile: string): Promise<Map<string, { hash: string; narSize: number; registrationTime: number; references: string[] }>> {
  const sql =
    "SELECT v.path, v.hash, v.narSize, v.registrationTime, COALESCE((SELECT group_concat(r.path, ' ') FROM Refs f JOIN ValidPaths r ON r.id = f.reference WHERE f.referrer = v.id), '') FROM ValidPaths v;";
  const { stdout } = await execa('sqlite3', ['-readonly', '-separator', '\t', dbFile, sql]);
  const rows = new Map<string, { hash: string; narSize: number; registrationTime: number; references: string[] }>();
  for (const line of stdout.split('\n').filter((l) => l !== '')) {
    const [p, hash, narSize, time, refs] = line.split('\t') as [string, string, string, string, string];
    rows.set(p, { hash, narSize: Number(narSize), registrationTime: Number(time), references: refs === '' ? [] : refs.split(' ').sort() });
  }
  return rows;
}
