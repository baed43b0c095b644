/** The features as pure functions of an analysed document and a cursor, table-driven. */
import { describe, expect, it, vi } from 'vitest';
import { complete } from '../../src/lsp/completion.js';
import { DEBOUNCE_MS, Debouncer } from '../../src/lsp/diagnostics.js';
import { analyzeDocument, MAX_ANALYSED_CHARS } from '../../src/lsp/documents.js';
import { hover } from '../../src/lsp/hover.js';
import { locate } from '../../src/lsp/locate.js';

const CURSOR = '‸';

/** The document without the cursor mark, and the mark's position. */
function at(textWithCursor: string) {
  const index = textWithCursor.indexOf(CURSOR);
  const before = textWithCursor.slice(0, index).split('\n');
  const position = { line: before.length - 1, character: before[before.length - 1]!.length };
  return { document: analyzeDocument('file:///t/image.nix', 1, textWithCursor.replace(CURSOR, '')), position };
}

const call = (body: string) => `{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> {\n  inherit pkgs lib config;\n${body}\n}\n`;

describe('locate', () => {
  it.each([
    ['a name', call('  boot‸Size = "1G";'), 'argument-name', 'bootSize'],
    ['a value', call('  bootSize = "1‸G";'), 'argument-value', 'bootSize'],
    ['inside a nested value', call('  contents = [ { source = ./a; tar‸get = "/a"; } ];'), 'argument-value', 'contents'],
    ['between arguments', call('  bootSize = "1G";\n  ‸\n  format = "raw";'), 'argument-set', undefined],
    ['the function', call('').replace('import <nix', `import <ni${CURSOR}x`), 'call', undefined],
  ])('on %s', (_, text, kind, name) => {
    const { document, position } = at(text);
    const target = locate(document.analysis, { line: position.line, column: position.character });
    expect(target?.kind).toBe(kind);
    expect(target && 'name' in target ? target.name : undefined).toBe(name);
  });

  it('is nowhere outside any call', () => {
    const { document, position } = at(`let x = 1;‸ in ${call('')}`);
    expect(locate(document.analysis, { line: position.line, column: position.character })).toBeUndefined();
  });
});

describe('completion', () => {
  const labels = (text: string) => {
    const { document, position } = at(text);
    return complete(document, position).map((item) => item.label);
  };

  it.each([
    ['an empty line', call('  format = "raw";\n  ‸'), ['diskSize', 'bootSize', 'fsType'], ['format', 'pkgs', 'lib', 'config']],
    ['a half-typed name', call('  ins‸'), ['installBootLoader'], ['pkgs']],
    ['after a semicolon on the line', call('  format = "raw"; ‸'), ['diskSize'], ['format']],
    ['an empty argument set', 'import <nixpkgs/nixos/lib/make-disk-image.nix> { ‸ }', ['pkgs', 'lib', 'config', 'diskSize'], []],
    ['a format string', call('  format = "qc‸";'), ['raw', 'qcow2', 'qcow2-compressed', 'vdi', 'vpc'], ['diskSize']],
    ['a partitionTableType string', call('  partitionTableType = "‸";'), ['legacy+gpt', 'efixbootldr', 'hybrid', 'none'], []],
    ['an fsType string', call('  fsType = "e‸"'), ['ext4', 'erofs', 'squashfs'], []],
  ])('in %s offers these', (_, text, offered, notOffered) => {
    const got = labels(text);
    expect(got).toEqual(expect.arrayContaining(offered));
    for (const name of notOffered) expect(got).not.toContain(name);
  });

  it.each([
    ['a value that is no enum', call('  label = "ni‸";')],
    ['the middle of a value', call('  diskSize = 40‸96;')],
    ['an argument of another function', `mkDerivation { ‸ }`],
    ['a nested attribute set', call('  contents = [ { ‸ } ];')],
    ['inherit', call('  inherit (x) ‸;')],
  ])('offers nothing in %s', (_, text) => {
    expect(labels(text)).toEqual([]);
  });

  it('documents each partitionTableType with the layout the call would get', () => {
    const { document, position } = at(call('  bootSize = "512M";\n  partitionTableType = "‸";'));
    const efi = complete(document, position).find((item) => item.label === 'efi')!;
    // bootSize "512M" ends the ESP at 513 MiB with current nixpkgs.
    expect((efi.documentation as { value: string }).value).toContain('| 2 | primary | root | 0FC63DAF-8483-4772-8E79-3D69D8477DE4 | 537919488 (513 MiB) |');
  });
});

describe('hover', () => {
  const value = (text: string) => {
    const { document, position } = at(text);
    const result = hover(document, position);
    return result === null ? null : (result.contents as { value: string }).value;
  };

  it.each([
    ['a required argument', call('  pk‸gs = { };').replace('inherit pkgs lib config;', 'inherit lib config;'), ['**pkgs**', 'required, no default']],
    ['a default that depends on another argument', call('  onlyNixStore = true;\n  la‸bel = "x";'), ['**label**', 'Default: `"nix-store"`']],
    ['a fixed diskSize', call('  partitionTableType = "legacy";\n  diskSize = 20‸48;'), ['MBR, disk 2147483648 (2048 MiB) bytes', '| 1 | — | root | 0x83 | 1048576 (1 MiB) | 2048 | 2146435072 (2047 MiB) |']],
    ['a layout that needs Nix', call('  partitionTableType = builtins.get‸Env "TABLE";'), ['**Layout**: known only when partitionTableType is not known']],
    ['a value that decides no layout', call('  format = "r‸aw";'), null],
    ['an unknown bootSize', call('  partitionTableType = "efi";\n  bootSize = "a‸b";'), ['**Layout**: known only when bootSize is not valid']],
    ['no table', call('  partitionTableType = "no‸ne";'), ['no partition table', 'Root filesystem `"ext4"` labelled `"nixos"` on the whole image.']],
  ])('on %s', (_, text, expected) => {
    const got = value(text);
    if (expected === null) return expect(got).toBeNull();
    for (const part of expected) expect(got).toContain(part);
  });
});

describe('documents', () => {
  it('skips the analysis of files that cannot hold a call site, and of huge ones', () => {
    expect(analyzeDocument('file:///a.nix', 1, '{ a = ; }').analysis.callSites).toEqual([]);
    const huge = call('  fomat = "raw";') + ' '.repeat(MAX_ANALYSED_CHARS);
    expect(analyzeDocument('file:///a.nix', 1, huge).analysis.diagnostics).toEqual([]);
    expect(analyzeDocument('file:///a.nix', 1, call('  fomat = "raw";')).analysis.diagnostics.map((d) => d.code)).toEqual(['unknown-argument']);
  });
});

describe('Debouncer', () => {
  it('runs only the last of the edits that arrive within the pause, per document', () => {
    vi.useFakeTimers();
    try {
      const ran: string[] = [];
      const debouncer = new Debouncer();
      for (const version of [1, 2, 3]) debouncer.schedule('a', DEBOUNCE_MS, () => ran.push(`a${version}`));
      debouncer.schedule('b', DEBOUNCE_MS, () => ran.push('b1'));
      vi.advanceTimersByTime(DEBOUNCE_MS - 1);
      expect(ran).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(ran).toEqual(['a3', 'b1']);
      debouncer.schedule('a', DEBOUNCE_MS, () => ran.push('a4'));
      debouncer.cancel('a');
      vi.advanceTimersByTime(DEBOUNCE_MS);
      expect(ran).toEqual(['a3', 'b1']);
    } finally {
      vi.useRealTimers();
    }
  });
});
