import { describe, expect, it } from 'vitest';
import { checkContents, imagePathOf, parseMode } from '../../../src/image/system/contents.js';

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
