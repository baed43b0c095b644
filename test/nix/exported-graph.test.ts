/**
 * The drop-in builder's inputs, as pure functions: the closure of an image's roots inside
 * the graph Nix exports (exportReferencesGraph), the attributes file, and a substituted
 * nixpkgs' shape (real folders where relative imports must stay inside it).
 */
import { lstat, mkdtemp, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attrsFileOf, parseDerivationAttrs } from '../../src/build-derivation.js';
import { closureFromGraph, storePathOf, type ExportedPathInfo } from '../../src/nix/closure.js';
import { substituteNixpkgs } from '../../src/nix/substitute.js';

const HASH = 'sha256:1i90wv15z31zqxb4cwndif4xhbwz3vcn8mmh4dcwkry6hijxk59z';
const entry = (name: string, references: string[] = []): ExportedPathInfo => ({
  path: `/nix/store/${name}`,
  narHash: HASH,
  narSize: name.length,
  references: references.map((r) => `/nix/store/${r}`),
});
// As Nix 2.8 writes it: every exported path's closure, in no particular order.
const GRAPH = [entry('c-leaf'), entry('a-app', ['b-lib', 'a-app']), entry('b-lib', ['c-leaf']), entry('d-other')];

describe('closureFromGraph', () => {
  it.each([
    [['/nix/store/a-app'], ['a-app', 'b-lib', 'c-leaf']],
    [['/nix/store/a-app/bin/app'], ['a-app', 'b-lib', 'c-leaf']],
    [['/nix/store/b-lib', '/nix/store/d-other'], ['b-lib', 'c-leaf', 'd-other']],
    [[], []],
  ])('roots %j reach %j, sorted, with their registration', (roots, names) => {
    const closure = closureFromGraph(GRAPH, roots);
    expect(closure.paths.map((p) => p.path)).toEqual(names.map((n) => `/nix/store/${n}`));
    expect(closure.totalNarSize).toBe(names.reduce((sum, n) => sum + n.length, 0));
    for (const info of closure.paths) expect(info).toMatchObject({ narHash: HASH, deriver: null });
  });

  it('a root or reference outside the graph is an error naming it', () => {
    expect(() => closureFromGraph(GRAPH, ['/nix/store/z-missing'])).toThrow(/z-missing \(a root of the image\) is not in the closure Nix exported/);
    expect(() => closureFromGraph([entry('a', ['gone'])], ['/nix/store/a'])).toThrow(/gone \(referred to by \/nix\/store\/a\)/);
  });

  it.each([
    ['/nix/store/abc-x', '/nix/store/abc-x'],
    ['/nix/store/abc-x/bin/y', '/nix/store/abc-x'],
  ])('storePathOf(%s) = %s', (file, storePath) => expect(storePathOf(file)).toBe(storePath));

  it('storePathOf refuses what is not in the store', () => {
    expect(() => storePathOf('/etc/passwd')).toThrow(/is not in the Nix store/);
  });
});

describe('the derivation attributes', () => {
  const call = { arguments: {}, unknownArguments: {} };
  it('reads the call, the graph and $out', () => {
    const attrs = parseDerivationAttrs({ nixdiskCall: call, nixdiskClosure: GRAPH, outputs: { out: '/nix/store/o-out' } }, 'x');
    expect(attrs).toEqual({ call, graph: GRAPH, out: '/nix/store/o-out' });
  });

  it.each([
    [{ nixdiskClosure: [], outputs: { out: '/o' } }, /has no `nixdiskCall`/],
    [{ nixdiskCall: call, outputs: { out: '/o' } }, /has no `nixdiskClosure` graph: the derivation needs __structuredAttrs/],
    [{ nixdiskCall: call, nixdiskClosure: [] }, /names no `out` output/],
  ])('refuses %j', (json, message) => expect(() => parseDerivationAttrs(json, 'x')).toThrow(message));

  it.each([
    // Sandboxed, Nix 2.8 names the host's folder in NIX_ATTRS_JSON_FILE: the build folder wins.
    [{ NIX_BUILD_TOP: '/build', NIX_ATTRS_JSON_FILE: '/tmp/nix-build-x/.attrs.json' }, '/build/.attrs.json'],
    [{ NIX_ATTRS_JSON_FILE: '/tmp/a/.attrs.json' }, '/tmp/a/.attrs.json'],
  ])('attrsFileOf(%j) = %s', (env, file) => expect(attrsFileOf(env)).toBe(file));

  it('outside a Nix build, says so', () => expect(() => attrsFileOf({})).toThrow(/not inside a Nix build/));
});

describe('substituteNixpkgs (link)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-substitute-'));
    const nixpkgs = path.join(dir, 'nixpkgs');
    for (const folder of ['lib', 'pkgs/top', 'nixos/lib/testing', 'nixos/modules/virtualisation']) await mkdir(path.join(nixpkgs, folder), { recursive: true });
    for (const file of ['default.nix', 'nixos/default.nix', 'nixos/lib/eval-config.nix', 'nixos/lib/make-disk-image.nix', 'nixos/modules/module-list.nix', 'pkgs/top/all.nix']) {
      await writeFile(path.join(nixpkgs, file), `# ${file}\n`);
    }
    await substituteNixpkgs(nixpkgs, path.join(dir, 'substitute'), 'link');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['', 'folder'],
    ['nixos', 'folder'],
    ['nixos/lib', 'folder'],
    ['nixos/modules', 'folder'],
    ['default.nix', 'copy'],
    ['nixos/lib/eval-config.nix', 'copy'],
    ['nixos/modules/module-list.nix', 'copy'],
    ['lib', 'link'],
    ['pkgs', 'link'],
    ['nixos/lib/testing', 'link'],
    ['nixos/modules/virtualisation', 'link'],
  ])('%s is a %s', async (relative, kind) => {
    const entry = path.join(dir, 'substitute', relative);
    const stats = await lstat(entry);
    if (kind === 'link') expect(await readlink(entry)).toBe(path.join(dir, 'nixpkgs', relative));
    else if (kind === 'folder') expect(stats.isDirectory()).toBe(true);
    else expect(await readFile(entry, 'utf8')).toBe(`# ${relative}\n`);
  });

  it('make-disk-image.nix is the recorder, with the files it imports beside it', async () => {
    const lib = path.join(dir, 'substitute', 'nixos', 'lib');
    expect(await readFile(path.join(lib, 'make-disk-image.nix'), 'utf8')).toMatch(/\(import \.\/nixdisk-recorder\/recorder\.nix\)\.recordCall/);
    for (const file of ['recorder.nix', 'serialize-args.nix', 'make-disk-image-signature.nix']) {
      expect((await lstat(path.join(lib, 'nixdisk-recorder', file))).isFile()).toBe(true);
    }
  });
});
