/**
 * Full images refused before anything is written, run as the user runs them (the built
 * CLI): each error names what is wrong and where, exits 1 and leaves nothing behind.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_SYSTEM } from '../helpers/full-image.js';
import { caseFolder, expectNoStackTrace, expectNothingLeft, nixdisk } from './fixtures/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-full-failures-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const NO_BOOTSPEC = `derivation { name = "nixos-system-without-bootspec"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "/bin/mkdir $out; echo > $out/init" ]; }`;

interface Case {
  name: string;
  toplevel?: string;
  extra: string;
  expected: RegExp;
}

const USERS = 'users.users.alice = { isNormalUser = true; group = "users"; }; users.groups.users.gid = 100;';

const CASES: Case[] = [
  {
    name: 'an unknown user',
    extra: `contents = [ { source = ./image.nix; target = "/etc/x"; user = "mallory"; group = "users"; } ];`,
    expected: /contents entry 1 \(target "\/etc\/x"\): user "mallory" is not declared in the configuration \(users\.users\.mallory\)/,
  },
  {
    name: 'an unknown group',
    extra: `contents = [ { source = ./image.nix; target = "/etc/x"; user = "alice"; group = "staff"; } ];`,
    expected: /group "staff" is not declared in the configuration \(users\.groups\.staff\)/,
  },
  {
    name: 'a missing source',
    extra: `contents = [ { source = "/nonexistent/nixdisk-source"; target = "/etc/x"; } ];`,
    expected: /contents entry 1 \(target "\/etc\/x"\): source "\/nonexistent\/nixdisk-source" does not exist/,
  },
  {
    name: 'a glob that matches nothing',
    extra: `contents = [ { source = "/nonexistent/*.conf"; target = "/etc/x"; } ];`,
    expected: /source "\/nonexistent\/\*\.conf" matches nothing/,
  },
  {
    name: 'a duplicate target',
    extra: `contents = [ { source = ./image.nix; target = "/etc/x"; } { source = ./image.nix; target = "etc//x"; } ];`,
    expected: /image\.nix:\d+:\d+: error: target "etc\/\/x" is already used by contents entry 1/,
  },
  {
    name: 'a target that leaves /',
    extra: `contents = [ { source = ./image.nix; target = "/etc/../../x"; } ];`,
    expected: /image\.nix:\d+:\d+: error: target "\/etc\/\.\.\/\.\.\/x" leaves the image root/,
  },
  {
    name: 'no toplevel',
    toplevel: 'null',
    extra: '',
    expected: /needs config\.system\.build\.toplevel, and this config has none/,
  },
  {
    name: 'no bootspec',
    toplevel: NO_BOOTSPEC,
    extra: 'installBootLoader = true;',
    expected: /has no bootspec \(boot\.json\)/,
  },
  {
    name: 'copyChannel without nixpkgs',
    extra: 'copyChannel = true;',
    expected: /pkgs\.path, pkgs\.runCommand, lib\.cleanSource are missing from the arguments; pass nixpkgs as pkgs and lib, or set copyChannel = false/,
  },
];

describe('bad input for a full image', () => {
  it.each(CASES.map((c) => [c.name, c]))('%s: a clear error, nothing written', async (_, c) => {
    const cwd = await caseFolder(dir, c.name.replace(/\W+/g, '-'));
    const toplevel = c.toplevel ?? `import ${FIXTURE_SYSTEM}`;
    await writeFile(
      path.join(cwd, 'image.nix'),
      `import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { }; lib = { };
  config = { ${toplevel === 'null' ? '' : `system.build.toplevel = ${toplevel};`} ${USERS} };
  ${c.extra.includes('installBootLoader') ? '' : 'installBootLoader = false;'}
  ${c.extra.includes('copyChannel') ? '' : 'copyChannel = false;'}
  ${c.extra}
}
`,
    );
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(c.expected);
    expectNoStackTrace(run.stderr);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });
});
