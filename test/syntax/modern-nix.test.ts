import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { analyzeFile } from '../../src/analysis/analyze.js';
import { findCallSites } from '../../src/syntax/find-call-sites.js';
import { parseNix, type SyntaxNode } from '../../src/syntax/parser.js';
import { syntaxErrors } from '../../src/syntax/syntax-errors.js';

const run = promisify(execFile);
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'modern');
const files = readdirSync(dir).filter((name) => name.endsWith('.nix'));

/** A function's header as tree-sitter read it: `{ a, b ? …, ... }@args`, defaults elided. */
function header(fn: SyntaxNode): string {
  const formals = fn.childForFieldName('formals');
  const universal = fn.childForFieldName('universal')?.text;
  if (!formals) return `${universal}:`;
  const names = formals.childrenForFieldName('formal').map((f) => f.childForFieldName('name')!.text + (f.childForFieldName('default') ? ' ? …' : ''));
  if (formals.childForFieldName('ellipses')) names.push('...');
  const set = `{ ${names.join(', ')} }`;
  if (!universal) return set;
  return fn.firstChild!.type === 'identifier' ? `${universal}@${set}` : `${set}@${universal}`;
}

function headers(text: string): string[] {
  // tree-sitter lists them in document order.
  return parseNix(text).rootNode.descendantsOfType('function_expression').map(header);
}

/** Every function header of each file, in source order, exactly as written there. */
const EXPECTED_HEADERS: Record<string, string[]> = {
  'at-pattern.nix': ['args@{ pkgs, lib, config, ... }', '{ format, diskSize ? … }@imageArgs'],
  'comments-and-strings.nix': ['{ greeting ? …, separators ? …, postVM ? … }', '{ pkgs, lib, config }'],
  'defaults.nix': ['{ pkgs ? …, lib ? …, system ? …, extraPaths ? …, settings ? …, wrap ? …, label ? … }', 'x:'],
  'flake.nix': ['{ self, nixpkgs, ... }@inputs', '{ modulesPath, ... }'],
  'nixos-module.nix': ['{ config, lib, pkgs, modulesPath, ... }'],
  'old-arguments.nix': ['{ pkgs, lib, config }'],
};

/**
 * nixfmt-style files (FACTS §10) that are valid Nix: nixdisk must read them without a
 * syntax error, and Nix itself is the judge that they are valid.
 */
describe('valid modern Nix', () => {
  it('covers every file of the folder', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED_HEADERS).sort());
  });

  it.each(files)('%s: no syntax error, formals as written, a call site found', (name) => {
    const file = path.join(dir, name);
    const text = readFileSync(file, 'utf8');
    expect(syntaxErrors(parseNix(text))).toEqual([]);
    const analysis = analyzeFile(file, text, { alwaysReportSyntaxErrors: true });
    expect(analysis.diagnostics.filter((d) => d.code === 'syntax-error' || d.code === 'internal-error')).toEqual([]);
    expect(headers(text)).toEqual(EXPECTED_HEADERS[name]);
    expect(findCallSites(parseNix(text)).length).toBeGreaterThan(0);
  });

  it.each(files)('%s: nix-instantiate --parse accepts it', async (name) => {
    await expect(run('nix-instantiate', ['--parse', path.join(dir, name)])).resolves.toBeDefined();
  });

  it.each(files.filter((name) => name !== 'flake.nix'))('%s: Nix sees the same top-level formals', async (name) => {
    const file = path.join(dir, name);
    const { stdout } = await run('nix-instantiate', ['--eval', '--strict', '--json', '--expr', `builtins.functionArgs (import ${JSON.stringify(file)})`]);
    const fromNix = Object.entries(JSON.parse(stdout) as Record<string, boolean>).map(([formal, hasDefault]) => formal + (hasDefault ? ' ? …' : ''));
    const ours = EXPECTED_HEADERS[name]![0]!.replace(/^.*\{ | \}.*$/g, '').split(', ').filter((f) => f !== '...');
    expect(ours.sort()).toEqual(fromNix.sort());
  });
});
