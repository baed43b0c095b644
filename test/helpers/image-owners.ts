/**
 * Who owns the files inside a filesystem image, read with the fsType's own userspace
 * tool: no mount, no extraction, so it works as an ordinary user (an extraction by a
 * user cannot keep root's ownership, which is what is to be checked).
 */
import { rm } from 'node:fs/promises';
import { execa } from 'execa';
import { toolSearchPath } from '../../src/tools.js';
import { carve } from './build-fixture.js';

export interface OwnedEntry {
  /** A path, or an inode/node number where the tool names no path. */
  entry: string;
  uid: number;
  gid: number;
}

const env = { PATH: toolSearchPath(process.env.PATH), LC_ALL: 'C' };

async function run(command: string, args: string[], input?: string): Promise<string> {
  return (await execa(command, args, { env, input: input ?? '' })).stdout;
}

/** path → uid/gid of every entry, from unsquashfs' numeric long listing. */
export async function squashfsOwners(file: string): Promise<OwnedEntry[]> {
  const owners: OwnedEntry[] = [];
  for (const line of (await run('unsquashfs', ['-lln', file])).split('\n')) {
    const match = /^\S{10} (\d+)\/(\d+)\s+\S+ \S+ \S+ squashfs-root(\/.*?)?(?: -> .*)?$/.exec(line);
    if (match) owners.push({ entry: match[3] ?? '/', uid: Number(match[1]), gid: Number(match[2]) });
  }
  return owners;
}

/** nid:name → uid/gid of every node inode, read with dump.f2fs one node id at a time (it has no listing). */
export async function f2fsOwners(file: string, lastNid = 64): Promise<OwnedEntry[]> {
  const owners: OwnedEntry[] = [];
  // A fresh F2FS hands out node ids from 3 up.
  for (let nid = 3; nid < lastNid; nid++) {
    const { stdout, exitCode } = await execa('dump.f2fs', ['-i', String(nid), file], {
      env,
      reject: false,
      input: 'n\n', // it offers to dump regular files into ./lost_found
      timeout: 10_000,
    });
    const uid = /^i_uid\s+\[0x\s*[0-9a-f]+ : (\d+)\]/m.exec(stdout);
    const gid = /^i_gid\s+\[0x\s*[0-9a-f]+ : (\d+)\]/m.exec(stdout);
    const name = /^i_name\s+\[(.*)\]/m.exec(stdout);
    if (exitCode !== 0 || !uid || !gid || !name) continue;
    owners.push({ entry: `${nid}:${name[1]}`, uid: Number(uid[1]), gid: Number(gid[1]) });
  }
  return owners;
}

/** Every inode of the filesystem tree, from btrfs' own dump of it. */
async function btrfsOwners(file: string): Promise<OwnedEntry[]> {
  const dump = await run('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', file]);
  return [...dump.matchAll(/key \((\d+) INODE_ITEM 0\) itemoff[^\n]*\n[^\n]*\n[^\n]* uid (\d+) gid (\d+)/g)].map((m) => ({
    entry: `inode ${m[1]}`,
    uid: Number(m[2]),
    gid: Number(m[3]),
  }));
}

/** Walks the tree with debugfs' parseable listing (/inode/mode/uid/gid/name/size/). */
async function ext4Owners(file: string): Promise<OwnedEntry[]> {
  const owners: OwnedEntry[] = [];
  let level = ['/'];
  while (level.length > 0) {
    const listing = await run('debugfs', ['-f', '-', file], level.map((dir) => `ls -p "${dir}"`).join('\n') + '\n');
    const next: string[] = [];
    let dir = '/';
    for (const line of listing.split('\n')) {
      const command = /^debugfs: ls -p "(.*)"$/.exec(line);
      if (command) dir = command[1]!;
      const entry = /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line);
      if (!entry || entry[5] === '.' || entry[5] === '..' || entry[5] === 'lost+found') continue;
      const entryPath = `${dir === '/' ? '' : dir}/${entry[5]}`;
      owners.push({ entry: entryPath, uid: Number(entry[3]), gid: Number(entry[4]) });
      if (entry[2]!.startsWith('04')) next.push(entryPath);
    }
    level = next;
  }
  return owners;
}

/** Walks the tree with dump.erofs, one directory per run. */
async function erofsOwners(file: string): Promise<OwnedEntry[]> {
  const owners: OwnedEntry[] = [];
  const visit = async (dir: string): Promise<void> => {
    const text = await run('dump.erofs', [`--path=${dir}`, '--ls', file]);
    const owner = /^Uid: (\d+)\s+Gid: (\d+)/m.exec(text)!;
    owners.push({ entry: dir, uid: Number(owner[1]), gid: Number(owner[2]) });
    for (const line of text.split('\n')) {
      const child = /^\s+\d+\s+(\d+)\s+(.+)$/.exec(line);
      if (!child || child[2] === '.' || child[2] === '..') continue;
      const childPath = `${dir === '/' ? '' : dir}/${child[2]}`;
      // Type 2 is a directory in the listing; others are read on their own.
      if (child[1] === '2') await visit(childPath);
      else {
        const info = /^Uid: (\d+)\s+Gid: (\d+)/m.exec(await run('dump.erofs', [`--path=${childPath}`, file]))!;
        owners.push({ entry: childPath, uid: Number(info[1]), gid: Number(info[2]) });
      }
    }
  };
  await visit('/');
  return owners;
}

/** Walks the tree with xfs_db's `ls`, printing each inode's core.uid/gid. */
async function xfsOwners(file: string): Promise<OwnedEntry[]> {
  const owners: OwnedEntry[] = [];
  const visit = async (dir: string): Promise<void> => {
    const listing = await run('xfs_db', ['-r', '-c', `ls ${dir}`, file]);
    for (const line of listing.split('\n')) {
      const child = /^\d+\s+(\d+)\s+(\S+)\s+0x[0-9a-f]+\s+\d+\s+(.+) \(good\)$/.exec(line);
      if (!child || child[3] === '.' || child[3] === '..') continue;
      const childPath = `${dir === '/' ? '' : dir}/${child[3]}`;
      const core = await run('xfs_db', ['-r', '-c', `inode ${child[1]}`, '-c', 'print core.uid core.gid', file]);
      const uid = /core\.uid = (\d+)/.exec(core)!;
      const gid = /core\.gid = (\d+)/.exec(core)!;
      owners.push({ entry: childPath, uid: Number(uid[1]), gid: Number(gid[1]) });
      if (child[2] === 'directory') await visit(childPath);
    }
  };
  await visit('/');
  return owners;
}

const LISTERS: Record<string, ((file: string) => Promise<OwnedEntry[]>) | null> = {
  ext4: ext4Owners,
  btrfs: btrfsOwners,
  xfs: xfsOwners,
  erofs: erofsOwners,
  squashfs: squashfsOwners,
  // The images here hold a dozen entries; dump.f2fs takes a tenth of a second per node id.
  f2fs: (file) => f2fsOwners(file, 32),
  // FAT stores no owners.
  vfat: null,
};

/**
 * The owner of every entry of the filesystem at `offset` (`size` bytes) in the raw
 * image `image`; null for a format without owners. `scratch` is a file name it may
 * use for the filesystem's bytes, removed again.
 */
export async function imageOwners(fsType: string, image: string, offset: number, size: number, scratch: string): Promise<OwnedEntry[] | null> {
  const list = LISTERS[fsType];
  if (list === undefined) throw new Error(`no owner listing for fsType ${fsType}`);
  if (list === null) return null;
  const file = offset === 0 ? image : await carve(image, offset, size, scratch);
  try {
    return await list(file);
  } finally {
    if (file !== image) await rm(file, { force: true });
  }
}
