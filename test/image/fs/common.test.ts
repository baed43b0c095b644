import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSmallestBySearch, fittedSize } from '../../../src/image/fs/common.js';
import { scanTree } from '../../../src/image/fs/tree.js';
import { FilesystemTooSmallError, type FilesystemBuild } from '../../../src/image/fs/filesystem.js';
import { makeSampleTree, removeTree, UNICODE_NAME } from './sample-tree.js';

describe('fittedSize', () => {
  const ROUNDINGS: Record<string, ((needed: number) => number) | undefined> = {
    'no sizeFor': undefined,
    'sizeFor to whole MiB': (needed) => Math.ceil(needed / (1 << 20)) * (1 << 20),
  };
  it.each([
    // needed bytes, the caller's rounding → the size a fitting write takes
    [1, 'no sizeFor', 4096],
    [4096, 'no sizeFor', 4096],
    [4097, 'no sizeFor', 8192],
    [4097, 'sizeFor to whole MiB', 1 << 20],
    [(1 << 20) + 1, 'sizeFor to whole MiB', 2 << 20],
  ])('%d bytes needed, %s → %d', (needed, rounding, expected) => {
    const sizeFor = ROUNDINGS[rounding];
    expect(fittedSize({ spareBytes: 0, workDir: '/nonexistent', ...(sizeFor ? { sizeFor } : {}) }, needed)).toBe(expected);
  });
});

describe('createSmallestBySearch', () => {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'nixdisk-search-'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.each([
    // threshold, start, floor, granularity → smallest fitting size
    [1, 4096, 0, 4096, 4096],
    [40_000, 4096, 0, 4096, 40_960],
    [40_960, 1_000_000, 0, 4096, 40_960],
    [300 << 20, 300 << 20, 300 << 20, 4096, 300 << 20],
    [5_000_000, 300 << 20, 300 << 20, 4096, 300 << 20],
    [123_456_789, 4096, 0, 1 << 20, 118 << 20],
  ])('threshold %d from start %d, floor %d, step %d → %d', async (threshold, start, floor, granularity, expected) => {
    const attempts: number[] = [];
    const create = async (build: FilesystemBuild) => {
      attempts.push(build.sizeBytes);
      await writeFile(build.output, String(build.sizeBytes));
      if (build.sizeBytes < threshold) throw new FilesystemTooSmallError('test', build.sizeBytes, 'below threshold');
    };
    const output = join(work, 'out.img');
    const base = { sourceDir: '/nonexistent/source', output, label: '', uuid: null, deterministic: true, epoch: 1 };
    const found = await createSmallestBySearch({ build: base, create, start, floor, granularity });
    expect(found).toBe(expected);
    expect(await readFile(output, 'utf8')).toBe(String(expected));
    expect(attempts.filter((size) => size === expected)).toHaveLength(1);
    expect(attempts.every((size) => size % granularity === 0 && size >= floor)).toBe(true);
  });

  it('passes other errors on and leaves no attempt behind', async () => {
    const create = async (build: FilesystemBuild) => {
      await writeFile(build.output, 'partial');
      if (build.sizeBytes > 8192) throw new Error('tool broke');
      throw new FilesystemTooSmallError('test', build.sizeBytes, 'small');
    };
    const build = { sourceDir: '/nonexistent/source', output: join(work, 'out.img'), label: '', uuid: null, deterministic: true, epoch: 1 };
    await expect(createSmallestBySearch({ build, create, start: 4096, floor: 0, granularity: 4096 })).rejects.toThrow('tool broke');
    expect((await readdir(work)).filter((name) => name.startsWith('out.img'))).toEqual([]);
  });
});

describe('scanTree', () => {
  it('lists parents before children in byte order, with kinds, modes, link targets and hard-link identity', async () => {
    const source = await makeSampleTree();
    try {
      const entries = await scanTree(source);
      const paths = entries.map((entry) => entry.path);
      expect(paths.slice(0, 6)).toEqual(['big.bin', 'bin', 'bin/doc-link', 'bin/hello', 'bin/hello-link', 'bin/tool']);
      expect(paths).toContain(UNICODE_NAME);
      const byPath = Object.fromEntries(entries.map((entry) => [entry.path, entry]));
      expect(byPath['bin/hello']).toMatchObject({ kind: 'file', mode: 0o555 });
      expect(byPath['bin/doc-link']).toMatchObject({ kind: 'symlink', linkTarget: '../share/doc' });
      expect(byPath['bin/tool']!.identity).toBe(byPath['bin/tool-hardlink']!.identity);
      expect(byPath['share/doc']!.kind).toBe('directory');
    } finally {
      await removeTree(source);
    }
  });
});

describe('scanTree name order', () => {
  // UTF-8 byte order, which ext4's and Nix's tools follow, against JavaScript's UTF-16 order:
  // they differ only where a surrogate pair (an emoji) meets U+E000–U+FFFF (a ligature).
  it.each([
    ['plain ASCII', ['b', 'B', 'a-1', 'a'], ['B', 'a', 'a-1', 'b']],
    ['accents (UTF-16 and UTF-8 agree)', ['é', 'z', 'ä'], ['z', 'ä', 'é']],
    ['an emoji against a ligature', ['a\u{1F600}', 'a\uFB01', 'a'], ['a', 'a\uFB01', 'a\u{1F600}']],
  ])('%s', async (_name, names, expected) => {
    const source = await mkdtemp(join(tmpdir(), 'nixdisk-order-'));
    try {
      for (const name of names) await writeFile(join(source, name), '');
      expect((await scanTree(source)).map((entry) => entry.path)).toEqual(expected);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });
});
