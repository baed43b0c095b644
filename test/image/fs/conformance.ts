/**
 * The checks every filesystem writer must pass, run against the real tools. Each
 * fsType's test file calls `filesystemConformance` with what its format can hold.
 */
import { copyFile, lstat, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolSearchPath } from '../../../src/tools.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from '../../../src/image/fs/filesystem.js';
import type { OwnedEntry } from '../../helpers/image-owners.js';
import { describeTree, makeCopyDir, rawDirectoryOrder, makeSampleTree, recopyTree, removeTree, sha256File, touchTree, type SampleTreeOptions } from './sample-tree.js';
import { writeWhole } from './write-whole.js';

export interface Conformance {
  fs: Filesystem;
  label: string;
  uuid: string | null;
  /** The identifier as blkid prints it (UUID=…), when the format has one. */
  blkidUuid?: string;
  tree?: SampleTreeOptions;
  /** Entries the filesystem adds by itself (lost+found). */
  extraEntries?: string[];
  /** Compare permission bits after extraction (false for FAT, which has none). */
  modes?: boolean;
  /** Two deterministic builds of touched and re-copied trees are byte-identical. */
  byteIdentical: boolean;
  /** Granularity of the minimum size: one step below it must fail. */
  sizeStep: number;
  /** Mode bits are only listed, not extracted: return path → "uid:gid" for every entry. */
  owners?: (image: string) => Promise<Record<string, string>>;
}

export async function blkid(image: string): Promise<Record<string, string>> {
  const { stdout } = await execa('blkid', ['-p', '-o', 'export', image], { env: { PATH: toolSearchPath(process.env.PATH) } });
  return Object.fromEntries(stdout.split('\n').filter((line) => line.includes('=')).map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 1)];
  }));
}

/** An owner listing of test/helpers/image-owners.ts as `owners` takes it: entry → "uid:gid". */
export function ownersByEntry(list: (image: string) => Promise<OwnedEntry[]>): (image: string) => Promise<Record<string, string>> {
  return async (image) => Object.fromEntries((await list(image)).map((owned) => [owned.entry, `${owned.uid}:${owned.gid}`]));
}

/** uid:gid of every entry of an extracted tree (extraction as root keeps them). */
export async function ownersOfTree(dir: string, ignore: string[] = []): Promise<Record<string, string>> {
  const owners: Record<string, string> = {};
  const walk = async (relative: string): Promise<void> => {
    for (const name of await readdir(join(dir, relative))) {
      const path = relative ? `${relative}/${name}` : name;
      if (ignore.includes(path)) continue;
      const info = await lstat(join(dir, path));
      owners[path] = `${info.uid}:${info.gid}`;
      if (info.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return owners;
}

export function filesystemConformance(spec: Conformance): void {
  const { fs } = spec;
  describe(`${fs.fsType} filesystem`, () => {
    let source: string;
    let work: string;
    let image: string;
    let imageSize: number;
    const build = (output: string, extra: Partial<FilesystemBuild> = {}): Omit<FilesystemBuild, 'sizeBytes'> => ({
      sourceDir: source,
      output,
      label: spec.label,
      uuid: spec.uuid,
      deterministic: true,
      epoch: 1,
      ...extra,
    });

    beforeAll(async () => {
      source = await makeSampleTree(spec.tree);
      work = await mkdtemp(join(tmpdir(), `nixdisk-${fs.fsType}-`));
      image = join(work, 'minimal.img');
      imageSize = await writeWhole(fs, { ...build(image), sizeBytes: { spareBytes: 0, workDir: work } });
    }, 240_000);

    afterAll(async () => {
      await removeTree(source);
      await removeTree(work);
    });

    it('writing at the smallest size gives exactly the size it reports, and nothing else', async () => {
      expect((await stat(image)).size).toBe(imageSize);
      expect(await readdir(work)).toEqual(['minimal.img']);
    });

    it('passes its checker', async () => {
      await expect(fs.check(image)).resolves.toBeTypeOf('string');
    });

    it('rejects a damaged image with the checker output', async () => {
      const damaged = join(work, 'damaged.img');
      await copyFile(image, damaged);
      try {
        const handle = await open(damaged, 'r+');
        await handle.write(Buffer.alloc(128 * 1024), 0, 128 * 1024, 0);
        await handle.close();
        await expect(fs.check(damaged)).rejects.toThrow(/exited with status|was killed/);
      } finally {
        await rm(damaged, { force: true });
      }
    }, 60_000);

    it('carries the label and identifier', async () => {
      const info = await blkid(image);
      expect(info.TYPE).toBe(fs.fsType);
      if (spec.label) expect(info.LABEL).toBe(spec.label);
      if (spec.blkidUuid) expect(info.UUID).toBe(spec.blkidUuid);
    });

    if (fs.extract) {
      it('extracts to the same tree: contents, exec bits, symlink targets, all root-owned', async () => {
        const dest = await mkdtemp(join(work, 'extract-'));
        try {
          await fs.extract!(image, dest);
          const ignore = spec.extraEntries ?? [];
          const modes = spec.modes ?? true;
          expect(await describeTree(dest, { ignore, modes })).toEqual(await describeTree(source, { modes }));
          if (modes && process.getuid?.() === 0) {
            const owners = Object.values(await ownersOfTree(dest, ignore));
            expect(owners.length).toBeGreaterThan(10);
            expect(new Set(owners)).toEqual(new Set(['0:0']));
          }
        } finally {
          await rm(dest, { recursive: true, force: true });
        }
      }, 60_000);
    }

    if (spec.owners) {
      it('owns every entry by root', async () => {
        const owners = await spec.owners!(image);
        expect(Object.keys(owners).length).toBeGreaterThan(10);
        expect(new Set(Object.values(owners))).toEqual(new Set(['0:0']));
      });
    }

    it('size agrees with the smallest write and leaves nothing behind', async () => {
      const scratch = await mkdtemp(join(work, 'measure-'));
      try {
        const { sourceDir, label, uuid, deterministic, epoch } = build('unused');
        expect(await fs.size({ sourceDir, label, uuid, deterministic, epoch }, { spareBytes: 0, workDir: scratch })).toBe(imageSize);
        expect(await readdir(scratch)).toEqual([]);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }, 240_000);

    it('fits at the minimum and not one step below, leaving no output when too small', async () => {
      const atMinimum = join(work, 'at-minimum.img');
      await writeWhole(fs, { ...build(atMinimum), sizeBytes: imageSize });
      await fs.check(atMinimum);
      await rm(atMinimum);
      const below = join(work, 'below.img');
      await expect(writeWhole(fs, { ...build(below), sizeBytes: imageSize - spec.sizeStep })).rejects.toBeInstanceOf(
        FilesystemTooSmallError,
      );
      await expect(lstat(below)).rejects.toThrow(/ENOENT/);
      expect(await readdir(work)).toEqual(['minimal.img']);
    }, 240_000);

    it('refuses to overwrite an existing file', async () => {
      await expect(writeWhole(fs, { ...build(image), sizeBytes: imageSize })).rejects.toThrow(/refusing to overwrite/);
    });

    it(
      spec.byteIdentical
        ? 'gives identical bytes for a touched and re-copied source tree'
        : 'builds the same size again from a touched and re-copied source tree',
      async () => {
        const again = join(work, 'again.img');
        const copy = await makeCopyDir('nixdisk-src-copy-');
        try {
          await touchTree(source, new Date('2031-05-06T07:08:09Z'));
          await recopyTree(source, copy);
          const order = async (root: string) => (await rawDirectoryOrder(join(root, 'bin'))).join(' ');
          expect(await order(copy), 'the copy lists entries in another order').not.toBe(await order(source));
          await touchTree(copy, new Date('2029-01-02T03:04:05Z'));
          await writeWhole(fs, { ...build(again, { sourceDir: copy }), sizeBytes: imageSize });
          if (spec.byteIdentical) expect(await sha256File(again)).toBe(await sha256File(image));
          else expect((await stat(again)).size).toBe(imageSize);
        } finally {
          await rm(again, { force: true });
          await removeTree(copy);
        }
      },
      240_000,
    );
  });
}
