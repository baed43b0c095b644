import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseNix } from '../../src/syntax/parser.js';
import { syntaxErrors } from '../../src/syntax/syntax-errors.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'call-sites');

/** `message @ line:col` with 1-based positions, as an editor shows them. */
function errorsIn(text: string): string[] {
  return syntaxErrors(parseNix(text)).map((e) => `${e.message} @ ${e.range.start.line + 1}:${e.range.start.column + 1}`);
}

describe('syntaxErrors', () => {
  const cases: [string, string, string[]][] = [
    ['valid file', '{ a = 1; b = [ 1 2 ]; }', []],
    ['empty file', '', []],
    ['trailing comma in formals', '{\n  pkgs,\n  lib,\n}: pkgs', []],
    ['trailing comma after a string default, with @', 'args@{ a ? "x, y", /* c */ }: a', []],
    ['trailing comma after a default set, then @', '{ a ? { b = 1; }, }@args: a', []],
    ['comma after ...', '{ a, ..., }: a', ['unexpected `,` @ 1:9']],
    ['two trailing commas', '{ a,, }: a', ['unexpected `,` @ 1:4']],
    ['a lone comma', '{ , }: 1', ['unexpected `,` @ 1:3']],
    ['trailing comma kept, a later error still placed right', '{ a, }: { b = 1 ; c = 2 }', ['missing `;` @ 1:24']],
    ['missing semicolon', '{ a = 1 ; b = 2 }', ['missing `;` @ 1:16']],
    ['stray closing brace', '{ a = 1; } }', ['unexpected `}` @ 1:12']],
    ['two bindings run together', '{ a = 1 b = 2; }', ['unexpected `=`: missing `;` before `b`? @ 1:11']],
    ['stray equals', '{ a = = 1; }', ['unexpected `=` @ 1:7']],
    ['unclosed list', '[ 1 2 ', ['missing `]` @ 1:6']],
    ['truncated inside a call', 'import ./make-disk-image.nix { x = 1; y = "a"; z = 3', ['unexpected end of file: `{` is never closed @ 1:30']],
    [
      'truncated module',
      '{ pkgs, ... }: { a = import ./make-disk-image.nix { x = 1; y = ',
      ['unexpected end of file: `{` is never closed @ 1:51'],
    ],
  ];
  it.each(cases)('%s', (_name, source, expected) => {
    expect(errorsIn(source)).toEqual(expected);
  });

  it.each([
    ['truncated.nix', /^unexpected end of file: `{` is never closed @ 3:71$/],
    ['missing-semicolon.nix', /^unexpected `=`: missing `;` before `diskSize`\? @ 5:12$/],
    ['stray-brace.nix', /^unexpected `}` @ 6:5$/],
  ])('reports the error in fixture %s', (file, pattern) => {
    const errors = errorsIn(readFileSync(path.join(fixtures, file), 'utf8'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(pattern);
  });

  it('handles 5000 nested brackets with the innermost unclosed', () => {
    const errors = errorsIn('['.repeat(5000) + ']'.repeat(4999));
    expect(errors.length).toBeGreaterThan(0);
  });
});
