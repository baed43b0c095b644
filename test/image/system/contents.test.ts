import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkContents, imagePathOf, parseMode, planContents } from '../../../src/image/system/contents.js';

describe('imagePathOf', () => {
  it.each([
    ['/etc/x', 'etc/x'],
    ['etc//x/', 'etc/x'],
    ['/a/./b/../c', 'a/c'],
    ['/', ''],
  ])('%s → %s', (target, expected) => {
    expect(imagePathOf(target, 'here')).toBe(expected);
  });
  it.each(['..', '/../etc', '/etc/../../x'])('refuses %s, which leaves /', (target) => {
    expect(() => imagePathOf(target, 'contents entry 3')).toThrow(/contents entry 3: target ".*" leaves the image's root \//);
  });
});

describe('parseMode', () => {
  it.each([
    ['755', 0o755],
    ['0644', 0o644],
    ['1777', 0o1777],
  ])('%s', (mode, expected) => {
    expect(parseMode(mode, 'x')).toBe(expected);
  });
  it.each(['u+x', '8', '12345', ''])('refuses %j', (mode) => {
    expect(() => parseMode(mode, 'x')).toThrow(/is not an octal mode/);
  });
});

describe('checkContents', () => {
  it('plans targets, globs, modes and owners', () => {
    expect(
      checkContents([
        { source: '/s/a', target: '/etc/a', mode: '0600', user: 'alice', group: 'users' },
        { source: '/s/*.conf', target: '/etc/confs' },
        { source: '/s/b*', target: '/etc/confs' },
      ]),
    ).toEqual([
      { index: 1, target: 'etc/a', glob: false, mode: 0o600, owner: { user: 'alice', group: 'users' } },
      { index: 2, target: 'etc/confs', glob: true, mode: null, owner: null },
      { index: 3, target: 'etc/confs', glob: true, mode: null, owner: null },
    ]);
  });
  it('refuses two copies to one target, however spelt', () => {
    expect(() => checkContents([{ source: '/a', target: '/etc/x' }, { source: '/b', target: 'etc//x/' }])).toThrow(
      /contents entry 2: duplicate target \/etc\/x \(already written by contents entry 1\)/,
    );
  });
  it('refuses a user without a group', () => {
    expect(() => checkContents([{ source: '/a', target: '/x', user: 'alice' }])).toThrow(/user and group must be set together/);
  });
});

describe('planContents', () => {
  it.each([
    ['a file into a copied folder, where the folder has it', [{ source: 'tree', target: '/srv' }, { source: 'file', target: '/srv/one' }], /contents entry 2: duplicate target \/srv\/one \(contents entry 1 already puts something there\)/],
    ['a parent folder an earlier entry needed', [{ source: 'file', target: '/etc/a/b' }, { source: 'file', target: '/etc/a' }], /contents entry 2: duplicate target \/etc\/a/],
    ['into a glob match', [{ source: 'tree/*', target: '/g' }, { source: 'file', target: '/g/sub/two' }], /contents entry 2: duplicate target \/g\/sub\/two/],
    ['onto a glob target', [{ source: 'tree/*', target: '/g' }, { source: 'file', target: '/g' }], /contents entry 2: duplicate target \/g/],
  ])('refuses %s', async (_, entries, message) => {
    await withTree(async (dir) => {
      const absolute = entries.map((e) => ({ ...e, source: path.join(dir, e.source) }));
      await expect(planContents(absolute)).rejects.toThrow(message);
    });
  });
  it('allows a file beside what a copied folder holds, and globs sharing a target', async () => {
    await withTree(async (dir) => {
      const planned = await planContents([
        { source: path.join(dir, 'tree'), target: '/srv' },
        { source: path.join(dir, 'file'), target: '/srv/new' },
        { source: path.join(dir, 'tree', '*'), target: '/g' },
        { source: path.join(dir, 'tree', 'o*'), target: '/g' },
      ]);
      expect(planned.map((p) => p.sources.map((s) => path.relative(dir, s)))).toEqual([['tree'], ['file'], ['tree/one', 'tree/sub'], ['tree/one']]);
    });
  });
});

async function withTree(use: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-contents-'));
  try {
    await mkdir(path.join(dir, 'tree', 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'tree', 'one'), '1');
    await writeFile(path.join(dir, 'tree', 'sub', 'two'), '2');
    await writeFile(path.join(dir, 'file'), 'f');
    await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
