import { describe, expect, it } from 'vitest';
import { nixErrorText, nixStringLiteral, parseAttrPath } from '../../src/nix/evaluate.js';
import { installablesOf } from '../../src/nix/serialized.js';

describe('parseAttrPath', () => {
  it.each([
    ['', []],
    ['image', ['image']],
    ['images.small', ['images', 'small']],
    ['a."b.c".d', ['a', 'b.c', 'd']],
    ['list.0', ['list', '0']],
  ])('%j → %j', (input, expected) => {
    expect(parseAttrPath(input)).toEqual(expected);
  });

  it.each([
    ['a."b', /unmatched quote/],
    ['a..b', /empty name/],
    ['a.', /empty name/],
  ])('rejects %j', (input, message) => {
    expect(() => parseAttrPath(input)).toThrow(message);
  });
});

describe('nixStringLiteral', () => {
  it.each([
    ['/plain/path.nix', '"/plain/path.nix"'],
    ['a"b', '"a\\"b"'],
    ['${x}', '"\\${x}"'],
    ['back\\slash', '"back\\\\slash"'],
  ])('%j → %s', (input, expected) => {
    expect(nixStringLiteral(input)).toBe(expected);
  });
});

describe('nixErrorText', () => {
  it('keeps the error with its location and drops warnings and the trace hint', () => {
    const stderr = [
      "warning: unknown setting 'foo'",
      "error: attribute 'foo' missing",
      '',
      '       at /tmp/x.nix:1:39:',
      '',
      '            1| { y = { }.foo; }',
      '             |          ^',
      "(use '--show-trace' to show detailed location information)",
      '',
    ].join('\n');
    expect(nixErrorText(stderr)).toBe(
      ["error: attribute 'foo' missing", '', '       at /tmp/x.nix:1:39:', '', '            1| { y = { }.foo; }', '             |          ^'].join('\n'),
    );
  });

  it("drops the shim's nixdisk: prefix", () => {
    expect(nixErrorText('error: nixdisk: x.nix is not a make-disk-image call (it is a set)\n')).toBe(
      'error: x.nix is not a make-disk-image call (it is a set)',
    );
  });

  it('keeps text without an error: line whole', () => {
    expect(nixErrorText('something odd\n')).toBe('something odd');
  });
});

describe('installablesOf', () => {
  it('collects derivation outputs and string contexts, sorted and unique', () => {
    const value = {
      additionalPaths: [
        { $drv: '/nix/store/bbb-b.drv', $out: '/nix/store/ccc-b', $output: 'out' },
        { $string: '/nix/store/ddd-x/bin', $context: ['/nix/store/aaa-x.drv!out', '/nix/store/eee-src'] },
        { $drv: '/nix/store/bbb-b.drv', $out: '/nix/store/ccc-b', $output: 'out' },
      ],
      contents: [{ source: { $path: '/home/me/file' }, target: '/etc/file' }],
      diskSize: 64,
    };
    expect(installablesOf(value)).toEqual(['/nix/store/aaa-x.drv!out', '/nix/store/bbb-b.drv!out', '/nix/store/eee-src']);
  });

  it('finds nothing in plain values', () => {
    expect(installablesOf({ format: 'qcow2', diskSize: 'auto', contents: [] })).toEqual([]);
  });
});
