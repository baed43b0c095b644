/**
 * Full NixOS images (onlyNixStore = false) from a hand-made system toplevel, inspected
 * without mounting: the Nix database against the closure, profile links, /etc/NIXOS,
 * configuration.nix, every contents entry with its bytes, mode and owner, the uid/gid
 * maps; e2fsck and fsck.vfat clean; byte-identical rebuilds; nixdisk verify.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFromFile } from '../../src/build.js';
import { closureOf, normalizeNarHash, realise } from '../../src/nix/closure.js';
import { reportIsClean, verifyImage } from '../../src/verify.js';
import { carve, nixString, sha256, asRaw, toolEnv } from '../helpers/build-fixture.js';
import { catFile, databaseRows, dumpFile, entryOf, FAKE_NIXPKGS, FIXTURE_SYSTEM, listDirectory } from '../helpers/full-image.js';
import { sfdiskJson } from '../helpers/parted-oracle.js';

let dir: string;
let toplevel: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-full-'));
  const { stdout } = await execa('nix-build', ['--no-out-link', '--option', 'substituters', '', FIXTURE_SYSTEM]);
  toplevel = stdout.trim();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const USERS = `users.users = {
      root = { uid = 0; group = "root"; isSystemUser = true; };
      alice = { isNormalUser = true; group = "users"; };
      sshd = { isSystemUser = true; group = "sshd"; };
      nobody = { uid = 65534; group = "nogroup"; isSystemUser = true; };
    };
    users.groups = { root = { gid = 0; }; users = { gid = 100; }; sshd = { }; nogroup = { gid = 65534; }; wheel = { gid = 1; }; };`;

/** A full-image call over the fixture system; `extra` are more arguments (Nix source). */
async function writeFullCall(caseDir: string, extra: string, config = USERS, pkgs = 'pkgs = { }; lib = { };'): Promise<string> {
  const file = path.join(caseDir, 'image.nix');
  await writeFile(
    file,
    `import <nixpkgs/nixos/lib/make-disk-image.nix> {
  ${pkgs}
  config = {
    system.build.toplevel = import ${FIXTURE_SYSTEM};
    ${config}
  };
  installBootLoader = false;
  ${extra}
}
`,
  );
  return file;
}

async function build(file: string, outDir: string) {
  return buildFromFile({ file, args: [], argstrs: [], includes: [], outDir, compression: 'zlib', workRoot: dir, emit: () => {} });
}

/** The root filesystem of a built image as a file of its own, and the other partitions. */
async function partitions(image: string, format: string, caseDir: string) {
  const raw = await asRaw(image, format, caseDir);
  const table = await sfdiskJson(raw);
  const files: { type: string; file: string }[] = [];
  for (const [i, p] of (table.partitions as { start: number; size: number; type: string }[]).entries()) {
    files.push({ type: p.type, file: await carve(raw, p.start * 512, p.size * 512, path.join(caseDir, `part-${i + 1}-${path.basename(image)}`)) });
  }
  const root = files.find((f) => f.type === '0FC63DAF-8483-4772-8E79-3D69D8477DE4' || f.type === '83')!;
  return { root: root.file, others: files.filter((f) => f !== root) };
}

describe('a full image with contents, a configFile and users (efi, raw)', () => {
  let caseDir: string;
  let image: string;
  let rootFs: string;
  let sources: string;
  let storeSource: string;

  beforeAll(async () => {
    caseDir = await mkdtemp(path.join(dir, 'contents-'));
    sources = path.join(caseDir, 'sources');
    await mkdir(path.join(sources, 'tree', 'sub'), { recursive: true });
    await writeFile(path.join(sources, 'secret'), 'top secret\n');
    await writeFile(path.join(sources, 'tree', 'one'), 'one\n');
    await writeFile(path.join(sources, 'tree', 'sub', 'two'), 'two\n');
    await chmod(path.join(sources, 'tree', 'one'), 0o640);
    await writeFile(path.join(sources, 'configuration.nix'), '{ ... }: { }\n');
    await mkdir(path.join(sources, 'glob'));
    await writeFile(path.join(sources, 'glob', 'a.conf'), 'a\n');
    await writeFile(path.join(sources, 'glob', 'b.conf'), 'b\n');
    await writeFile(path.join(sources, 'glob', 'c.txt'), 'c\n');
    await writeFile(path.join(sources, 'vars.fd'), Buffer.alloc(8192, 0x5a));
    await chmod(path.join(sources, 'vars.fd'), 0o444);
    // A read-only store directory as a source: copied, and still removable afterwards.
    [storeSource] = await realise([(await closureOf([toplevel])).paths.find((p) => p.path.endsWith('-nixdisk-fixture-data'))!.path]);
    const file = await writeFullCall(
      caseDir,
      `partitionTableType = "efi";
  copyChannel = false;
  touchEFIVars = true;
  efiVariables = ${path.join(sources, 'vars.fd')};
  configFile = ${path.join(sources, 'configuration.nix')};
  contents = [
    { source = ${nixString(path.join(sources, 'secret'))}; target = "/etc/secret"; mode = "0600"; user = "alice"; group = "sshd"; }
    { source = ${nixString(path.join(sources, 'tree'))}; target = "/srv/tree"; }
    { source = ${nixString(path.join(sources, 'glob', '*.conf'))}; target = "/etc/confs"; user = "4242"; group = "wheel"; mode = "0640"; }
    { source = ${nixString(storeSource!)}; target = "/opt/data"; }
  ];`,
    );
    const built = await build(file, path.join(caseDir, 'out'));
    image = built.imagePath;
    // touchEFIVars: a writable copy of the variable store beside the image.
    const efiVars = await stat(path.join(built.outDir, 'efi-vars.fd'));
    expect(efiVars.mode & 0o777).toBe(0o644);
    expect(await readFile(path.join(built.outDir, 'efi-vars.fd'))).toEqual(Buffer.alloc(8192, 0x5a));
    const parts = await partitions(image, 'raw', caseDir);
    rootFs = parts.root;
    for (const other of parts.others) await execa('fsck.vfat', ['-n', other.file], { env: toolEnv });
    const again = await build(file, path.join(caseDir, 'again'));
    expect(await sha256(again.imagePath)).toBe(await sha256(image));
    expect((await readdir(dir)).filter((name) => name.startsWith('nixdisk-build-'))).toEqual([]);
  });

  it('is a clean ext4', async () => {
    await execa('e2fsck', ['-f', '-n', rootFs], { env: toolEnv });
  });

  it('registers exactly the closure of the toplevel, with its NAR hashes, sizes and references, at the pinned time', async () => {
    const db = path.join(caseDir, 'db.sqlite');
    await dumpFile(rootFs, '/nix/var/nix/db/db.sqlite', db);
    const rows = await databaseRows(db);
    const closure = (await closureOf([toplevel])).paths;
    expect([...rows.keys()].sort()).toEqual(closure.map((p) => p.path));
    for (const info of closure) {
      const row = rows.get(info.path)!;
      expect(normalizeNarHash(row.hash)).toBe(info.narHash);
      expect(row.narSize).toBe(info.narSize);
      expect(row.references).toEqual(info.references);
      expect(row.registrationTime).toBe(1);
    }
    expect(await listDirectory(rootFs, '/nix/store')).toEqual(['.links', ...closure.map((p) => path.basename(p.path))].sort());
    expect(await catFile(rootFs, '/nix/var/nix/db/schema')).toBe('10');
    expect(await entryOf(rootFs, '/nix/var/nix/db/reserved')).toBeUndefined();
  });

  it('has the system profile, /etc/NIXOS, configuration.nix, and no dangling gcroots/profiles', async () => {
    expect((await entryOf(rootFs, '/nix/var/nix/profiles/system'))?.linkTarget).toBe('system-1-link');
    expect((await entryOf(rootFs, '/nix/var/nix/profiles/system-1-link'))?.linkTarget).toBe(toplevel);
    expect(await entryOf(rootFs, '/nix/var/nix/gcroots/profiles')).toBeUndefined();
    expect(await entryOf(rootFs, '/etc/NIXOS')).toMatchObject({ type: 'regular', mode: 0o644, uid: 0, gid: 0 });
    expect(await catFile(rootFs, '/etc/NIXOS')).toBe('');
    expect(await catFile(rootFs, '/etc/nixos/configuration.nix')).toBe('{ ... }: { }\n');
    expect(await entryOf(rootFs, '/etc/nixos/configuration.nix')).toMatchObject({ mode: 0o644, uid: 0 });
    // No channel asked for: no channel profile, no .nix-defexpr.
    expect(await entryOf(rootFs, '/root')).toBeUndefined();
  });

  it('copies each contents entry with its bytes, mode and owner', async () => {
    // alice: the first normal uid; sshd: the first group allocated, 999 downward.
    expect(await entryOf(rootFs, '/etc/secret')).toMatchObject({ type: 'regular', mode: 0o600, uid: 1000, gid: 999 });
    expect(await catFile(rootFs, '/etc/secret')).toBe('top secret\n');
    // A directory's contents go to the target; modes kept; root-owned.
    expect(await listDirectory(rootFs, '/srv/tree')).toEqual(['one', 'sub']);
    expect(await entryOf(rootFs, '/srv/tree/one')).toMatchObject({ mode: 0o640, uid: 0, gid: 0 });
    expect(await catFile(rootFs, '/srv/tree/sub/two')).toBe('two\n');
    // A glob: each match inside the target, the mode on every match, the target chowned too.
    expect(await listDirectory(rootFs, '/etc/confs')).toEqual(['a.conf', 'b.conf']);
    expect(await entryOf(rootFs, '/etc/confs')).toMatchObject({ type: 'directory', mode: 0o755, uid: 4242, gid: 1 });
    expect(await entryOf(rootFs, '/etc/confs/b.conf')).toMatchObject({ mode: 0o640, uid: 4242, gid: 1 });
    expect(await catFile(rootFs, '/etc/confs/a.conf')).toBe('a\n');
    // A store directory keeps its read-only modes.
    expect(await entryOf(rootFs, '/opt/data')).toMatchObject({ type: 'directory', mode: 0o555 });
    expect(await catFile(rootFs, '/opt/data/share/numbers/nested/deeper/leaf.txt')).toBe('leaf\n');
  });

  it('records the ids in /var/lib/nixos/uid-map and gid-map as update-users-groups.pl writes them', async () => {
    expect(await catFile(rootFs, '/var/lib/nixos/uid-map')).toBe('{"alice":1000,"nobody":65534,"root":0,"sshd":999}');
    expect(await catFile(rootFs, '/var/lib/nixos/gid-map')).toBe('{"nogroup":65534,"root":0,"sshd":999,"users":100,"wheel":1}');
    expect(await entryOf(rootFs, '/var/lib/nixos')).toMatchObject({ mode: 0o755, uid: 0 });
  });

  it('verifies against its own database', async () => {
    const report = await verifyImage(image, caseDir);
    expect(report.registrationSource).toBe('image database');
    expect(report.verified.length).toBe((await closureOf([toplevel])).paths.length);
    expect(reportIsClean(report)).toBe(true);
  });
});

describe('a full image with a channel (legacy+gpt, qcow2)', () => {
  it('copies the channel built from pkgs.path, with its profile and /root/.nix-defexpr; efi-vars.fd from OVMF.variables', async () => {
    const caseDir = await mkdtemp(path.join(dir, 'channel-'));
    const pkgs = `pkgs = {
    path = ${FAKE_NIXPKGS};
    runCommand = name: env: script: derivation (env // { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" script ]; PATH = "/bin:/usr/bin"; });
  };
  lib = { cleanSource = src: { outPath = builtins.path { path = src; name = "source"; }; }; };`;
    const vars = path.join(caseDir, 'OVMF_VARS.fd');
    await writeFile(vars, 'variables');
    const file = await writeFullCall(caseDir, `partitionTableType = "legacy+gpt"; format = "qcow2"; touchEFIVars = true; OVMF = { variables = ${vars}; };`, `${USERS}\n    system.nixos.version = "24.11test"; system.nixos.versionSuffix = "pre-fixture";`, pkgs);
    const built = await build(file, path.join(caseDir, 'out'));
    expect(await readFile(path.join(built.outDir, 'efi-vars.fd'), 'utf8')).toBe('variables');
    const rootFs = (await partitions(built.imagePath, 'qcow2', caseDir)).root;
    await execa('e2fsck', ['-f', '-n', rootFs], { env: toolEnv });
    const link = (await entryOf(rootFs, '/nix/var/nix/profiles/per-user/root/channels-1-link'))?.linkTarget;
    expect(link).toMatch(/^\/nix\/store\/[0-9a-z]{32}-nixos-24\.11test$/);
    expect((await entryOf(rootFs, '/nix/var/nix/profiles/per-user/root/channels'))?.linkTarget).toBe('channels-1-link');
    expect(await entryOf(rootFs, '/root/.nix-defexpr')).toMatchObject({ type: 'directory', mode: 0o700 });
    expect((await entryOf(rootFs, '/root/.nix-defexpr/channels'))?.linkTarget).toBe('/nix/var/nix/profiles/per-user/root/channels');
    expect((await entryOf(rootFs, `${link}/nixos/nixpkgs`))?.linkTarget).toBe('.');
    expect(await catFile(rootFs, `${link}/nixos/.version-suffix`)).toBe('pre-fixture');
    expect(await catFile(rootFs, `${link}/nixos/default.nix`)).toContain('pkgs.path');
    const db = path.join(caseDir, 'db.sqlite');
    await dumpFile(rootFs, '/nix/var/nix/db/db.sqlite', db);
    expect([...(await databaseRows(db)).keys()]).toContain(link);
    const report = await verifyImage(built.imagePath, caseDir);
    expect(reportIsClean(report)).toBe(true);
  });
});
