import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../../src/image/fs/tree.js';
import { faketimeClock, xfs, xfsPrototype } from '../../../src/image/fs/xfs.js';
import { toolSearchPath } from '../../../src/tools.js';
import { filesystemConformance } from './conformance.js';

const env = { PATH: toolSearchPath(process.env.PATH) };

async function xfsDb(image: string, commands: string[]): Promise<string> {
  const { stdout } = await execa('xfs_db', ['-r', ...commands.flatMap((command) => ['-c', command]), image], { env });
  return stdout;
}

/** path → uid:gid of every entry, read with xfs_db (there is no extraction for XFS). */
async function xfsOwners(image: string): Promise<Record<string, string>> {
  const owners: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    const listing = await xfsDb(image, [`ls ${dir}`]);
    for (const line of listing.split('\n')) {
      const match = /^(\d+)\s+\d+\s+(\S+)\s+0x[0-9a-f]+\s+\d+\s+(\S+) \(good\)$/.exec(line.trim());
      if (!match || match[3] === '.' || match[3] === '..') continue;
      const [, ino, type, name] = match;
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const fields = await xfsDb(image, [`inode ${ino}`, 'print core.uid core.gid']);
      owners[path] = `${/core.uid = (\d+)/.exec(fields)![1]}:${/core.gid = (\d+)/.exec(fields)![1]}`;
      if (type === 'directory') await walk(path);
    }
  };
  await walk('/');
  return owners;
}

filesystemConformance({
  fs: xfs,
  label: 'nixos',
  uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  blkidUuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  tree: { spacedNames: false },
  byteIdentical: true,
  sizeStep: 4096,
  owners: xfsOwners,
});

const entry = (path: string, kind: TreeEntry['kind'], mode: number, linkTarget?: string): TreeEntry => ({
  path, kind, mode, size: 0, identity: path, nlink: 1, linkTarget,
});

describe('xfsPrototype', () => {
  it('nests directories and closes each with $', () => {
    const prototype = xfsPrototype(
      [entry('a', 'directory', 0o755), entry('a/x', 'file', 0o4755), entry('a/l', 'symlink', 0o777, 'x'), entry('b', 'file', 0o444)],
      (index) => `/c${index}`,
    );
    expect(prototype).toBe(
      ['/dev/null', '0 0', 'd--755 0 0', 'a d--755 0 0', 'x -u-755 0 0 /c1', 'l l--777 0 0 x', '$', 'b ---444 0 0 /c3', '$', ''].join('\n'),
    );
  });

  it.each([
    [entry('has space', 'file', 0o644), /cannot hold the name of "has space"/],
    [entry('tmp', 'directory', 0o1777), /sticky bit of tmp/],
    [entry('l', 'symlink', 0o777, 'a b'), /symlink target of l/],
    [entry('fifo', 'other', 0o644), /special file fifo/],
  ])('refuses what the format cannot hold: %o', (bad, message) => {
    expect(() => xfsPrototype([bad], () => '/x')).toThrow(message);
  });
});

describe('faketimeClock', () => {
  it.each([
    [1, '1970-01-01 00:00:01'],
    [1700000000, '2023-11-14 22:13:20'],
  ])('%d → %s', (epoch, clock) => expect(faketimeClock(epoch)).toBe(clock));
});
