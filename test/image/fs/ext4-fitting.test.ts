/**
 * ext4's write sized to fit (diskSize = "auto"): probing at the sizes the disk layout allows
 * must land on the same size as measuring the minimum first and rounding it up, whether
 * blocks, inodes or mke2fs' own smallest size decide, with and without spare space.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityMap } from '../../../src/image/disk/host-map.js';
import { ext4 } from '../../../src/image/fs/ext4.js';

const MiB = 1024 * 1024;
const BLOCK = 4096;

/** What a disk layout might give the root partition for a needed size: whole MiB, or whole MiB less a table's share. */
const SIZE_RULES: Record<string, (neededBytes: number) => number> = {
  'whole MiB': (needed) => Math.ceil(needed / MiB) * MiB,
  'MiB less 17 KiB, not a block multiple': (needed) => Math.ceil((needed + 17 * 1024) / MiB) * MiB - 17 * 1024,
};

const TREES: Record<string, (dir: string) => Promise<void>> = {
  // Blocks decide: a few files of data over several directories.
  data: async (dir) => {
    for (let d = 0; d < 4; d++) {
      await mkdir(join(dir, `d${d}`), { recursive: true });
      for (let f = 0; f < 5; f++) await writeFile(join(dir, `d${d}`, `f${f}`), Buffer.alloc(37_000 * (f + 1), d + f + 1));
    }
  },
  // Inodes decide: thousands of empty files take inodes and no blocks.
  inodes: async (dir) => {
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 2500; f++) await writeFile(join(dir, `empty-${f}`), '');
  },
  // mke2fs' smallest filesystem decides.
  tiny: async (dir) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'one'), 'x');
  },
};

const build = { label: 'nix-store', uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f', deterministic: true, epoch: 1 };

describe('ext4 write, sized to fit', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nixdisk-ext4-fitting-'));
    for (const [name, make] of Object.entries(TREES)) await make(join(dir, name));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const cases = Object.keys(TREES).flatMap((tree) =>
    Object.keys(SIZE_RULES).flatMap((rule) => [0, 3 * MiB + 7 * BLOCK].map((spareBytes) => ({ tree, rule, spareBytes }))),
  );

  it.each(cases)('$tree tree, $rule, $spareBytes bytes spare: the rounded-up minimum, checked clean, with the spare free', async ({ tree, rule, spareBytes }) => {
    const sourceDir = join(dir, tree);
    const sizeFor = SIZE_RULES[rule]!;
    const output = join(dir, `${tree}-${rule.replace(/\W+/g, '-')}-${spareBytes}.img`);
    const pending = await ext4.write({ sourceDir, ...build, output, sizeBytes: { spareBytes, sizeFor, workDir: dir } });
    const size = await ext4.size({ sourceDir, ...build }, { spareBytes, sizeFor, workDir: dir });
    expect(pending.sizeBytes).toBe(Math.floor(size / BLOCK) * BLOCK);
    await pending.fill({ path: output, map: identityMap(pending.sizeBytes) });
    await ext4.check(output);
    const { stdout } = await execa('dumpe2fs', ['-h', output], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(stdout)![1]);
    expect(field('Block count')).toBe(Math.floor(size / BLOCK));
    expect(field('Free blocks') * BLOCK).toBeGreaterThanOrEqual(spareBytes);
    await rm(output);
  });
});
