import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DETERMINISTIC_UUID, ext4, mke2fsArgs } from '../../../src/image/fs/ext4.js';
import { freeSpaceFromDumpe2fs } from '../../../src/image/fs/ext4/populate.js';
import { runTool } from '../../../src/tools.js';
import { filesystemConformance } from './conformance.js';
import { makeSampleTree, removeTree } from './sample-tree.js';
import { writeWhole } from './write-whole.js';

const ROOT_FS_UUID = 'f222513b-ded1-49fa-b591-20ce86a2fe7f';

/** path → uid:gid of every entry, from debugfs' parseable listing (works for any user, unlike extraction). */
async function ext4Owners(image: string): Promise<Record<string, string>> {
  const owners: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    const { stdout } = await runTool('debugfs', ['-R', `ls -p "${dir}"`, image]);
    for (const line of stdout.split('\n')) {
      const fields = line.split('/');
      if (fields.length < 7) continue;
      const [, , mode, uid, gid, name] = fields;
      if (name === '.' || name === '..') continue;
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      owners[path] = `${uid}:${gid}`;
      if (mode!.startsWith('04')) await walk(path);
    }
  };
  await walk('/');
  return owners;
}

filesystemConformance({
  owners: ext4Owners,
  fs: ext4,
  label: 'nixos',
  uuid: ROOT_FS_UUID,
  blkidUuid: ROOT_FS_UUID,
  extraEntries: ['lost+found'],
  byteIdentical: true,
  sizeStep: 4096,
});

describe('mke2fsArgs', () => {
  const base = { label: 'nixos', output: '/out.img' };
  it.each([
    [
      'deterministic with a UUID: nixpkgs flags plus -U and the hash seed',
      { ...base, uuid: ROOT_FS_UUID, deterministic: true },
      ['-q', '-t', 'ext4', '-b', '4096', '-F', '-L', 'nixos', '-U', ROOT_FS_UUID, '-E', `root_owner=0:0,no_copy_xattrs,hash_seed=${ROOT_FS_UUID}`, '/out.img'],
    ],
    [
      'deterministic without a UUID: make-ext4-fs default',
      { ...base, uuid: null, deterministic: true },
      ['-q', '-t', 'ext4', '-b', '4096', '-F', '-L', 'nixos', '-U', DEFAULT_DETERMINISTIC_UUID, '-E', `root_owner=0:0,no_copy_xattrs,hash_seed=${DEFAULT_DETERMINISTIC_UUID}`, '/out.img'],
    ],
    [
      'not deterministic: random seed, given UUID kept',
      { ...base, uuid: ROOT_FS_UUID, deterministic: false },
      ['-q', '-t', 'ext4', '-b', '4096', '-F', '-L', 'nixos', '-U', ROOT_FS_UUID, '-E', 'root_owner=0:0,no_copy_xattrs', '/out.img'],
    ],
    [
      'not deterministic without a UUID: mke2fs picks one',
      { ...base, uuid: null, deterministic: false },
      ['-q', '-t', 'ext4', '-b', '4096', '-F', '-L', 'nixos', '-E', 'root_owner=0:0,no_copy_xattrs', '/out.img'],
    ],
  ])('%s', (_name, build, args) => {
    expect(mke2fsArgs(build)).toEqual(args);
  });
});

const DUMPE2FS = `Filesystem volume name:   nixos
Inode count:              24
Block count:              100
Free blocks:              40
Free inodes:              9
First inode:              11
Inodes per group:         8
Group 0: (Blocks 0-32767) csum 0xfb70
  Free blocks: 31471-32767
  Free inodes: 
Group 1: (Blocks 32768-65535) csum 0x5e9d
  Free blocks: 32800, 32802-65535
  Free inodes: 9, 12-14
Group 2: (Blocks 65536-98303) [INODE_UNINIT]
  Free blocks: 
  Free inodes: 17-24
`;

describe('freeSpaceFromDumpe2fs', () => {
  it('joins the free runs of every group, singles and empty lists included, ignoring the superblock totals', () => {
    expect(freeSpaceFromDumpe2fs(DUMPE2FS)).toEqual({
      blocks: [[31471, 32767], [32800, 32800], [32802, 65535]],
      inodes: [[9, 9], [12, 14], [17, 24]],
    });
  });
});

describe('ext4 as nixpkgs makes it', () => {
  let source: string;
  let work: string;
  let image: string;
  beforeAll(async () => {
    source = await makeSampleTree();
    work = await mkdtemp(join(tmpdir(), 'nixdisk-ext4-facts-'));
    image = join(work, 'root.img');
    await writeWhole(ext4, { sourceDir: source, output: image, sizeBytes: 64 << 20, label: 'nixos', uuid: ROOT_FS_UUID, deterministic: true, epoch: 1 });
  });
  afterAll(async () => {
    await removeTree(source);
    await rm(work, { recursive: true, force: true });
  });

  it("has e2fsprogs 1.47.0's built-in feature set (FACTS §4.1), whatever /etc/mke2fs.conf says", async () => {
    const { stdout } = await runTool('dumpe2fs', ['-h', image]);
    expect(/^Filesystem features:\s+(.*)$/m.exec(stdout)![1]!.trim()).toBe(
      'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum',
    );
    expect(stdout).toMatch(/^Inode size:\s+256$/m);
    expect(stdout).toMatch(/^Default directory hash:\s+half_md4$/m);
    expect(stdout).toMatch(/^Filesystem flags:\s+signed_directory_hash\s*$/m);
    expect(stdout).toMatch(/^Maximum mount count:\s+-1$/m);
    expect(stdout).toMatch(/^Block size:\s+4096$/m);
    expect(stdout).toMatch(new RegExp(`^Directory Hash Seed:\\s+${ROOT_FS_UUID}$`, 'm'));
    expect(stdout).toMatch(/^Filesystem created:\s+Thu Jan  1 00:00:01 1970$/m);
  });

  it('stores pinned times and root ownership in every inode', async () => {
    const { stdout } = await runTool('debugfs', ['-R', 'stat /share/doc/readme', image]);
    expect(stdout).toMatch(/User:\s+0\s+Group:\s+0/);
    for (const field of ['ctime', 'atime', 'mtime', 'crtime']) {
      expect(stdout).toMatch(new RegExp(`^\\s*${field}: 0x00000001:00000000`, 'm'));
    }
  });

  it('keeps hard links as one inode', async () => {
    const { stdout } = await runTool('debugfs', ['-R', 'stat /bin/tool', image]);
    expect(stdout).toMatch(/Links: 2/);
  });

  it('refuses a label longer than ext4 holds', async () => {
    await expect(
      writeWhole(ext4, { sourceDir: source, output: join(work, 'x.img'), sizeBytes: 64 << 20, label: 'a-label-of-17-byt', uuid: null, deterministic: false, epoch: 1 }),
    ).rejects.toThrow('label "a-label-of-17-byt" is 17 bytes; ext4 labels hold at most 16');
  });
});
