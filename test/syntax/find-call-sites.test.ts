import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseNix } from '../../src/syntax/parser.js';
import { findCallSites } from '../../src/syntax/find-call-sites.js';
import type { CallSiteNode } from '../../src/syntax/callsite.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'call-sites');

/** What a fixture's expected file records: 1-based positions, the argument's first line. */
function summary(site: CallSiteNode) {
  const { start, end } = site.range;
  return {
    form: site.form,
    range: `${start.line + 1}:${start.column + 1}-${end.line + 1}:${end.column + 1}`,
    argument: site.argument.text.split('\n')[0],
  };
}

function sitesIn(text: string) {
  return findCallSites(parseNix(text)).map(summary);
}

describe('findCallSites on fixtures (each .nix beside its .expected.json)', () => {
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.nix'));
  it('has a fixture for every call form', () => expect(files.length).toBeGreaterThanOrEqual(20));
  for (const file of files) {
    it(file, () => {
      const found = sitesIn(readFileSync(path.join(fixtures, file), 'utf8'));
      const expectedFile = path.join(fixtures, file.replace(/\.nix$/, '.expected.json'));
      if (process.env.UPDATE_FIXTURES) writeFileSync(expectedFile, JSON.stringify(found, null, 2) + '\n');
      expect(found).toEqual(JSON.parse(readFileSync(expectedFile, 'utf8')));
    });
  }
});

describe('findCallSites, inline cases', () => {
  const cases: [string, string, string[]][] = [
    ['import of a spath', 'import <nixpkgs/nixos/lib/make-disk-image.nix> { a = 1; }', ['import <nixpkgs/nixos/lib/make-disk-image.nix>']],
    ['parenthesised loader', '(import ./make-disk-image.nix) { }', ['import ./make-disk-image.nix']],
    ['builtins.import', 'builtins.import ./lib/make-disk-image.nix { }', ['builtins.import ./lib/make-disk-image.nix']],
    ['indented string path', "import ''${pkgs.path}/nixos/lib/make-disk-image.nix'' { }", ["import ''${pkgs.path}/nixos/lib/make-disk-image.nix''"]],
    ['name passed along twice', 'let a = import ./make-disk-image.nix; b = a; in b { }', ['b, bound to a, bound to import ./make-disk-image.nix']],
    ['inherit re-binds the outer name', 'let mk = import ./make-disk-image.nix; in let inherit mk; in mk { }', ['mk, bound to import ./make-disk-image.nix']],
    ['several per file', '[ (import ./make-disk-image.nix { a = 1; }) (import ./make-disk-image.nix { a = 2; }) ]', ['import ./make-disk-image.nix', 'import ./make-disk-image.nix']],
    ['another file', 'import ./make-disk-image-fast.nix { }', []],
    ['similar name', 'import ./my-make-disk-image.nix { }', []],
    ['applied to nothing', 'import ./make-disk-image.nix', []],
    ['function parameter shadows the binding', 'let mk = import ./make-disk-image.nix; in mk: mk { }', []],
    ['a string that is not loaded', '"make-disk-image.nix"', []],
    ['empty file', '', []],
  ];
  it.each(cases)('%s', (_name, source, forms) => {
    expect(sitesIn(source).map((s) => s.form)).toEqual(forms);
  });

  it('returns the argument node of each call', () => {
    const [site] = findCallSites(parseNix('x: import ./make-disk-image.nix { format = "raw"; }'));
    expect(site.argument.type).toBe('attrset_expression');
    expect(site.argument.text).toBe('{ format = "raw"; }');
  });

  it('survives 5000 levels of nesting around a call', () => {
    const depth = 5000;
    const source = '('.repeat(depth) + 'import ./make-disk-image.nix { a = 1; }' + ')'.repeat(depth);
    expect(sitesIn(source).map((s) => s.argument)).toEqual(['{ a = 1; }']);
  });

  it('scans a 1000-call file quickly', () => {
    const source = '[\n' + Array.from({ length: 1000 }, (_, i) => `  (import ./make-disk-image.nix { diskSize = ${i}; })`).join('\n') + '\n]';
    const tree = parseNix(source);
    const started = performance.now();
    const sites = findCallSites(tree);
    const elapsed = performance.now() - started;
    expect(sites).toHaveLength(1000);
    expect(elapsed).toBeLessThan(1000);
  });
});
