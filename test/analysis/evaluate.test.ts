import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseNix, type SyntaxNode } from '../../src/syntax/parser.js';
import { findCallSites } from '../../src/syntax/find-call-sites.js';
import { evaluate } from '../../src/analysis/evaluate.js';
import type { Value } from '../../src/analysis/value.js';
import type { SourceRange } from '../../src/syntax/range.js';

const FILE = '/project/images/default.nix';
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'evaluate');

/** A Value as plain JSON: known values as Nix's `--json` prints them, the rest tagged. */
type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };
function plain(value: Value): Plain {
  switch (value.kind) {
    case 'string':
    case 'int':
    case 'float':
    case 'bool':
      return value.value;
    case 'null':
      return null;
    case 'path':
      return { path: value.value };
    case 'list':
      return value.items.map(plain);
    case 'attrs':
      return Object.fromEntries([...value.attrs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, a]) => [k, plain(a.value)]));
    case 'lambda':
      return { lambda: true };
    case 'dynamic':
      return { dynamic: value.why };
  }
}

function rootExpression(source: string): SyntaxNode {
  return parseNix(source).rootNode.childForFieldName('expression')!;
}

function evalSource(source: string, file = FILE): Value {
  return evaluate(rootExpression(source), file);
}

/** The source text a range covers (single- or multi-line). */
function textAt(source: string, range: SourceRange): string {
  const lines = source.split('\n');
  if (range.start.line === range.end.line) return lines[range.start.line].slice(range.start.column, range.end.column);
  return [lines[range.start.line].slice(range.start.column), ...lines.slice(range.start.line + 1, range.end.line), lines[range.end.line].slice(0, range.end.column)].join('\n');
}

/** Known results, checked against our expectation and (below) against real Nix. */
const known: [string, string, Plain][] = [
  ['integer', '42', 42],
  ['negative integer', '-7', -7],
  ['float', '2.5', 2.5],
  ['true', 'true', true],
  ['false', 'false', false],
  ['null', 'null', null],
  ['string with escapes', '"a\\tb\\nc\\"d\\\\e\\$f"', 'a\tb\nc"d\\e$f'],
  ['dollar-dollar stays literal', '"a$${x}"', 'a$${x}'],
  ['interpolation', 'let v = "x"; in "a${v}b${"c"}"', 'axbc'],
  ['indented string strips indentation', "''\n    one\n      two\n    three\n  ''", 'one\n  two\nthree\n'],
  ['indented string escapes', "''\n  a ''${x} ''' ''\\n b\n''", "a ${x} '' \nb\n"],
  ['indented escape counts as content', "''\n  ''\\n\n    a\n''", '\n\n  a\n'],
  ['indented string with interpolation', "let n = \"v\"; in ''\n    x ${n}\n      y\n''", 'x v\n  y\n'],
  ['indented string on one line', "''  a  ''", 'a  '],
  ['list', '[ 1 "two" [ 3 ] ]', [1, 'two', [3]]],
  ['attrset', '{ a = 1; "b c" = 2; }', { a: 1, 'b c': 2 }],
  ['nested attrpaths merge', '{ a.b.c = 1; a.b.d = 2; a.e = 3; }', { a: { b: { c: 1, d: 2 }, e: 3 } }],
  ['attrpath merges into a literal', '{ a = { b = 1; }; a.c = 2; }', { a: { b: 1, c: 2 } }],
  ['dynamic attribute name', 'let k = "key"; in { ${k} = 1; "${k}2" = 2; }', { key: 1, key2: 2 }],
  ['rec self-reference', 'rec { a = 1; b = a + 1; c = "${toString b}!"; }', { a: 1, b: 2, c: '2!' }],
  ['rec dynamic name sees the set', 'rec { a = "x"; ${a} = 1; }', { a: 'x', x: 1 }],
  ['let in', 'let a = 1; b = a * 10; in b + a', 11],
  ['let nested attrpath', 'let a.b = 1; a.c = 2; in a', { b: 1, c: 2 }],
  ['inherit', 'let x = 1; in { inherit x; }', { x: 1 }],
  ['inherit in rec takes the outer name', 'let x = 1; in rec { inherit x; y = x; }', { x: 1, y: 1 }],
  ['inherit from', 'let s = { a = 1; b = 2; c = 3; }; in { inherit (s) a b; }', { a: 1, b: 2 }],
  ['update', '{ a = 1; b = 1; } // { b = 2; c = 3; }', { a: 1, b: 2, c: 3 }],
  ['integer arithmetic', '[ (1 + 2) (7 - 10) (6 * 7) (7 / 2) (-7 / 2) (2 + 3 * 4) ]', [3, -3, 42, 3, -3, 14]],
  ['float arithmetic', '[ (1 + 0.5) (1.0 / 4) ]', [1.5, 0.25]],
  ['string concatenation', '"a" + "b" + "c"', 'abc'],
  ['list concatenation', '[ 1 ] ++ [ 2 3 ]', [1, 2, 3]],
  ['comparisons', '[ (1 == 1) (1 != 1) (1 < 2) (2 <= 1) ("a" < "b") (3 > 2) (2 >= 2) (1 == 1.0) ]', [true, false, true, false, true, true, true, true]],
  ['deep equality', '[ ([ 1 { a = "x"; } ] == [ 1 { a = "x"; } ]) ({ a = 1; } == { a = 2; }) ]', [true, false]],
  ['boolean operators', '[ (true && false) (true || false) (!true) (false -> false) ]', [false, true, false, true]],
  ['short circuit skips the unknown side', 'let c = throw "unknown"; in [ (false && c) (true || c) ]', [false, true]],
  ['if then else', 'if 1 < 2 then "yes" else "no"', 'yes'],
  ['select', '{ a.b = 5; }.a.b', 5],
  ['select with or', '[ ({ a = 1; }.b or 2) ({ a = 1; }.a or 2) ]', [2, 1]],
  ['has attribute', '[ ({ a.b = 1; } ? a.b) ({ a = 1; } ? b) ]', [true, false]],
  ['toString', '[ (toString 5) (toString true) (toString false) (toString null) (toString "s") (toString 2.5) ]', ['5', '1', '', '', 's', '2.500000']],
  ['toString of a list', 'toString [ 1 null [ ] "x" true ]', '1  x 1'],
  ['builtins.toString', 'builtins.toString 12', '12'],
  ['outPath coerces', '"${{ outPath = "/out"; }}/bin"', '/out/bin'],
  ['assert', 'assert 1 < 2; "ok"', 'ok'],
  ['parentheses', '((((1))))', 1],
  ['with supplies a name', 'with { a = 1; }; a', 1],
  ['lexical wins over with', 'let a = 1; in with { a = 2; }; a', 1],
  ['inner with first', 'with { a = 1; }; with { a = 2; }; a', 2],
  ['globals win over with', 'with { true = false; toString = 1; }; [ true (toString 3) ]', [true, '3']],
  ['let attrset', 'let { x = 1; body = x + 1; }', 2],
];

describe('evaluate: known values', () => {
  it.each(known)('%s', (_name, source, expected) => {
    expect(plain(evalSource(source))).toEqual(expected);
  });

  it('agrees with nix-instantiate on every known case', () => {
    const expression = '[\n' + known.map(([, source]) => `(${source})`).join('\n') + '\n]';
    const output = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', expression], { encoding: 'utf8' });
    expect(known.map(([, source]) => plain(evalSource(source)))).toEqual(JSON.parse(output));
  });
});

describe('evaluate: paths', () => {
  it.each([
    ['./files/motd', '/project/images/files/motd'],
    ['../lib/make-disk-image.nix', '/project/lib/make-disk-image.nix'],
    ['/etc/nixos/configuration.nix', '/etc/nixos/configuration.nix'],
    ['/etc//nixos/./x/../configuration.nix', '/etc/nixos/configuration.nix'],
    ['<nixpkgs/nixos/lib/make-disk-image.nix>', '<nixpkgs/nixos/lib/make-disk-image.nix>'],
    ['./a + "/b.nix"', '/project/images/a/b.nix'],
    ['let n = "x"; in ./dir/${n}.nix', '/project/images/dir/x.nix'],
    ['<nixpkgs/nixos/modules> + "/../lib/make-disk-image.nix"', '<nixpkgs/nixos/lib/make-disk-image.nix>'],
  ])('%s', (source, expected) => {
    const value = evalSource(source);
    expect(value.kind).toBe('path');
    expect(plain(value)).toEqual({ path: expected });
  });

  it('toString of a path is its absolute name; interpolating it needs the store', () => {
    expect(plain(evalSource('toString ./x'))).toBe('/project/images/x');
    expect(plain(evalSource('"${./x}"'))).toEqual({ dynamic: expect.stringMatching(/copies it into the Nix store/) });
  });
});

/** Unknowable expressions: the reason, and the source text the range points at. */
const unknowable: [string, string, RegExp, string][] = [
  ['function argument', '{ config, ... }: config', /^`config` is a function argument, known only when Nix evaluates the file$/, 'config'],
  ['argument with a default', '{ size ? 1024 }: size', /^`size` is a function argument \(default `1024`\)/, 'size'],
  ['selection from an argument', '{ config, ... }: config.networking.hostName', /^`config` is a function argument/, 'config.networking.hostName'],
  ['interpolated argument', '{ config, ... }: "${config.networking.hostName}.img"', /^`config` is a function argument/, 'config.networking.hostName'],
  ['dynamic condition', '{ config, ... }: if config.x then 1 else 2', /^chosen by the condition `config.x`, which is not known statically: `config` is a function argument/, 'config.x'],
  ['name from with', '{ pkgs, ... }: with pkgs; hello', /^`hello` comes from `with pkgs;`, known only when Nix evaluates the file$/, 'hello'],
  ['function call', '{ pkgs, ... }: pkgs.writeText "a" "b"', /^`pkgs.writeText "a" "b"` is a function call/, 'pkgs.writeText "a" "b"'],
  ['import', 'import ./other.nix', /calls `import`, which only Nix evaluates/, 'import ./other.nix'],
  ['undefined name', 'nope', /^`nope` is not defined$/, 'nope'],
  ['home path', '~/disk.img', /home directory/, '~/disk.img'],
  ['self-reference in let', 'let x = x; in x', /^`x` refers to itself \(infinite recursion\)$/, 'x'],
  ['mutual recursion', 'rec { a = b; b = a; }.a', /^`a` refers to itself/, 'b'],
  ['known-false assert', 'assert 1 > 2; 5', /^assertion `1 > 2` fails/, '1 > 2'],
  ['division by zero', '1 / 0', /division by zero/, '1 / 0'],
  ['type error', '1 + "a"', /^`\+` cannot add an integer and a string/, '1 + "a"'],
  ['missing attribute', '{ a = 1; }.b', /attribute `b` missing/, 'b'],
  ['throw', 'throw "no"', /^Nix fails here: throw "no"$/, 'throw "no"'],
  ['builtins other than toString', 'builtins.currentSystem', /`builtins.currentSystem` is known only when Nix evaluates/, 'builtins.currentSystem'],
  ['interpolating an integer', '"${1}"', /cannot coerce an integer to a string/, '1'],
  ['NIX_PATH lookup as text', 'toString <nixpkgs>', /found through NIX_PATH/, '<nixpkgs>'],
  ['unknown side of an operator', '{ config, ... }: 1 + config.size', /^`config` is a function argument/, 'config.size'],
  ['equality with an unknown', '{ config, ... }: [ 1 ] == [ config.x ]', /^`config` is a function argument/, 'config.x'],
];

describe('evaluate: dynamic values say why and where', () => {
  it.each(unknowable)('%s', (_name, source, why, rangeText) => {
    const node = rootExpression(source);
    // Evaluate the function body when the source is a function, as a call site's argument would be.
    const target = node.type === 'function_expression' ? node.childForFieldName('body')! : node;
    const value = evaluate(target, FILE);
    expect(value.kind).toBe('dynamic');
    if (value.kind !== 'dynamic') return;
    expect(value.why).toMatch(why);
    expect(textAt(source, value.range)).toBe(rangeText);
  });

  it('a function is a lambda', () => {
    expect(evalSource('x: x').kind).toBe('lambda');
    expect(evalSource('builtins.toString').kind).toBe('lambda');
  });
});

describe('evaluate: laziness and priorities', () => {
  it('an unknown attribute leaves its siblings known', () => {
    expect(plain(evalSource('{ config, ... }: { a = config.x; b = 2; c = { d = config.y; e = "e"; }; }'.replace(/^.*?: /, '')))).toEqual({
      a: { dynamic: '`config` is not defined' },
      b: 2,
      c: { d: { dynamic: '`config` is not defined' }, e: 'e' },
    });
  });

  it('an unused broken binding does not matter', () => {
    expect(plain(evalSource('let broken = 1 / 0; loop = loop; gone = throw "x"; in { a = 1; }'))).toEqual({ a: 1 });
  });

  it('a broken attribute is dynamic on its own', () => {
    expect(plain(evalSource('{ a = 1 / 0; b = 2; }'))).toEqual({ a: { dynamic: 'division by zero (Nix fails here)' }, b: 2 });
  });

  it.each([
    ['lib.mkForce', '{ lib, ... }: lib.mkForce 5'],
    ['lib.mkDefault', '{ lib, ... }: lib.mkDefault 5'],
    ['lib.mkOverride', '{ lib, ... }: lib.mkOverride 10 5'],
    ['mkForce from with lib', '{ lib, ... }: with lib; mkForce 5'],
  ])('%s is the identity', (_name, source) => {
    expect(plain(evaluate(rootExpression(source).childForFieldName('body')!, FILE))).toBe(5);
  });

  it('keeps the range of each attribute name', () => {
    const source = '{ a.b.c = 1; "d" = 2; }';
    const value = evalSource(source);
    if (value.kind !== 'attrs') throw new Error('expected attrs');
    const a = value.attrs.get('a')!;
    expect(textAt(source, a.nameRange)).toBe('a');
    if (a.value.kind !== 'attrs') throw new Error('expected nested attrs');
    const b = a.value.attrs.get('b')!;
    if (b.value.kind !== 'attrs') throw new Error('expected nested attrs');
    expect(textAt(source, b.value.attrs.get('c')!.nameRange)).toBe('c');
    expect(textAt(source, b.value.attrs.get('c')!.value.range)).toBe('1');
    expect(textAt(source, value.attrs.get('d')!.nameRange)).toBe('"d"');
  });
});

describe('evaluate: guards', () => {
  it('cuts a self-containing value', () => {
    expect(plain(evalSource('rec { a = { b = a; }; }'))).toEqual({ a: { b: { dynamic: 'contains itself (infinite recursion)' } } });
    expect(plain(evalSource('rec { a = a; }'))).toEqual({ a: { dynamic: '`a` refers to itself (infinite recursion)' } });
  });

  it.each([
    ['parentheses', (n: number) => '('.repeat(n) + '1' + ')'.repeat(n)],
    ['lists', (n: number) => '['.repeat(n) + ']'.repeat(n)],
    ['attrsets', (n: number) => '{ a = '.repeat(n) + '1' + '; }'.repeat(n)],
    ['let chains', (n: number) => 'let ' + Array.from({ length: n }, (_, i) => `a${i + 1} = a${i} + 1;`).join(' ') + ' a0 = 0; in a' + n],
  ])('5000 nested %s: no crash, dynamic beyond the limit', (_name, build) => {
    const value = evalSource(build(5000));
    expect(JSON.stringify(plain(value))).toContain('too deeply nested');
  });

  it('stops a file built to blow up', () => {
    const lets = Array.from({ length: 40 }, (_, i) => `a${i + 1} = a${i} ++ a${i};`).join(' ');
    const started = performance.now();
    const value = evalSource(`let a0 = [ 1 ]; ${lets} in a40`);
    expect(value.kind).toBe('dynamic');
    expect(performance.now() - started).toBeLessThan(2000);
    const strings = Array.from({ length: 40 }, (_, i) => `s${i + 1} = s${i} + s${i};`).join(' ');
    expect(evalSource(`let s0 = "ab"; ${strings} in s40`)).toMatchObject({ kind: 'dynamic', why: 'string too long to evaluate statically' });
  });

  it('evaluates a 1000-line argument quickly (the native binding costs a few µs per node)', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `  attr${i} = ${i % 3 === 0 ? `"value-${i}"` : i % 3 === 1 ? `${i} * 2` : `{ n = ${i}; s = "\${toString ${i}}"; }`};`);
    const source = `let base = 1; in {\n${lines.join('\n')}\n}`;
    const node = rootExpression(source);
    evaluate(node, FILE);
    const started = performance.now();
    const value = evaluate(node, FILE);
    const elapsed = performance.now() - started;
    expect(value.kind === 'attrs' && value.attrs.size).toBe(1000);
    console.log(`evaluated a 1000-line attrset in ${elapsed.toFixed(1)} ms`);
    expect(elapsed).toBeLessThan(250);
  });
});

describe('evaluate call-site arguments in fixture files (each .nix beside its .expected.json)', () => {
  for (const file of readdirSync(fixtures).filter((f) => f.endsWith('.nix'))) {
    it(file, () => {
      const fullPath = path.join('/project/images', file);
      const sites = findCallSites(parseNix(readFileSync(path.join(fixtures, file), 'utf8')));
      const found = sites.map((site) => plain(evaluate(site.argument, fullPath)));
      const expectedFile = path.join(fixtures, file.replace(/\.nix$/, '.expected.json'));
      if (process.env.UPDATE_FIXTURES) writeFileSync(expectedFile, JSON.stringify(found, null, 2) + '\n');
      expect(found).toEqual(JSON.parse(readFileSync(expectedFile, 'utf8')));
    });
  }
});
