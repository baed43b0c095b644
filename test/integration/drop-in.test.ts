/**
 * The nix-build drop-in (nixlib/make-disk-image.nix): real `nix-build` on call sites as
 * users write them — `<nixpkgs/…>` redirected with -I, a relative import, a let-bound
 * function, a module inside a NixOS configuration (against a stand-in nixpkgs with
 * nixpkgs' layout) — checking $out as nixpkgs lays it out, and the image's sha256 against
 * `nixdisk build` of the same call. nixpkgs' asserts fail at evaluation with nixdisk's
 * message. As root also: a build in Nix's sandbox, and one on a remote builder reached
 * over ssh (an sshd on loopback started for the test).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package.js';
import { FIXTURE_CLOSURE, sha256, toolEnv } from '../helpers/build-fixture.js';
import { FIXTURE_SYSTEM } from '../helpers/full-image.js';
import { caseFolder, nixdisk } from './fixtures/cli.js';

const DROP_IN = path.join(PACKAGE_ROOT, 'nixlib', 'make-disk-image.nix');
const STAND_IN = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'nixpkgs-standin');
/** Way 2 of switching: every file stays, `<nixpkgs/nixos/lib/make-disk-image.nix>` finds the drop-in. */
const REDIRECT = ['-I', `nixpkgs/nixos/lib/make-disk-image.nix=${DROP_IN}`];
const isRoot = process.getuid?.() === 0;

const STORE_ONLY = `pkgs = { }; lib = { }; config = { };
    onlyNixStore = true; installBootLoader = false; copyChannel = false;
    additionalPaths = [ (import ${FIXTURE_CLOSURE}) ]; additionalSpace = "0M";`;

/** postVM as nixpkgs runs it: $out and $diskImage set, the image already in place. */
const POST_VM = `postVM = ''
      echo "$diskImage" > $out/postvm-saw
      ls $out >> $out/postvm-saw
    '';`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-drop-in-'));
  // Nix's build users (nixbld*) read the case files (efiVariables) from here.
  await chmod(dir, 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface NixRun {
  code: number | undefined;
  stdout: string;
  stderr: string;
}

function nix(tool: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<NixRun> {
  return execa(tool, [...args, '--option', 'substituters', ''], { cwd, env: { ...toolEnv, ...env }, reject: false }).then((r) => ({
    code: r.exitCode,
    stdout: r.stdout,
    stderr: r.stderr,
  }));
}

/** nix-build without a result link: returns $out. */
async function nixBuild(args: string[], cwd: string, env?: Record<string, string>): Promise<{ out: string; log: string }> {
  const run = await nix('nix-build', ['--no-out-link', ...args], cwd, env);
  expect(run.code, run.stderr).toBe(0);
  return { out: run.stdout.trim().split('\n').at(-1)!, log: run.stderr };
}

async function nixdiskBuild(args: string[], cwd: string): Promise<string> {
  const run = await nixdisk(['build', ...args, '-o', 'by-nixdisk'], { cwd });
  expect(run.code, run.stderr).toBe(0);
  return path.join(cwd, 'by-nixdisk');
}

interface Expected {
  image: string;
  productFormat: string;
  efiVars?: Buffer;
}

/** $out as nixpkgs leaves it, postVM's traces included; the same image bytes as `nixdisk build`. */
async function expectNixpkgsOutput(out: string, expected: Expected, byNixdisk: string): Promise<void> {
  const files = ['nix-support', expected.image, 'postvm-saw', ...(expected.efiVars ? ['efi-vars.fd'] : [])].sort();
  expect((await readdir(out)).sort()).toEqual(files);
  expect(await readFile(path.join(out, 'nix-support', 'hydra-build-products'), 'utf8')).toBe(
    `file ${expected.productFormat}-image ${out}/${expected.image}\n`,
  );
  // postVM ran after the image was in $out, with $diskImage naming it there.
  const saw = (await readFile(path.join(out, 'postvm-saw'), 'utf8')).split('\n');
  expect(saw[0]).toBe(`${out}/${expected.image}`);
  expect(saw).toContain(expected.image);
  expect(saw).toContain('nix-support');
  if (expected.efiVars) {
    expect(await readFile(path.join(out, 'efi-vars.fd'))).toEqual(expected.efiVars);
    expect(await readFile(path.join(byNixdisk, 'efi-vars.fd'))).toEqual(expected.efiVars);
  }
  expect(await sha256(path.join(out, expected.image))).toBe(await sha256(path.join(byNixdisk, expected.image)));
}

describe('nix-build through the drop-in', () => {
  it('<nixpkgs/nixos/lib/make-disk-image.nix> redirected with -I: qcow2 with postVM', async () => {
    const cwd = await caseFolder(dir, 'search-path');
    await writeFile(
      path.join(cwd, 'image.nix'),
      `import <nixpkgs/nixos/lib/make-disk-image.nix> {
    ${STORE_ONLY}
    format = "qcow2";
    partitionTableType = "none";
    ${POST_VM}
}
`,
    );
    const { out } = await nixBuild(['image.nix', ...REDIRECT], cwd);
    await expectNixpkgsOutput(out, { image: 'nixos.qcow2', productFormat: 'qcow2' }, await nixdiskBuild(['image.nix'], cwd));
  });

  it('a relative import of the drop-in: raw, efi, touchEFIVars with efiVariables from a path', async () => {
    const cwd = await caseFolder(dir, 'relative');
    const efiVars = randomBytes(64 * 1024);
    await writeFile(path.join(cwd, 'vars.fd'), efiVars);
    await chmod(path.join(cwd, 'vars.fd'), 0o644);
    const relative = path.relative(cwd, DROP_IN);
    expect(relative.startsWith('../')).toBe(true);
    await writeFile(
      path.join(cwd, 'image.nix'),
      `import ${relative} {
    ${STORE_ONLY}
    format = "raw";
    partitionTableType = "efi";
    touchEFIVars = true;
    efiVariables = ./vars.fd;
    ${POST_VM}
}
`,
    );
    const { out } = await nixBuild(['image.nix'], cwd);
    await expectNixpkgsOutput(out, { image: 'nixos.img', productFormat: 'raw', efiVars }, await nixdiskBuild(['image.nix'], cwd));
  });

  it('a let-bound make-disk-image chosen with -A: vdi with baseName', async () => {
    const cwd = await caseFolder(dir, 'let-bound');
    await writeFile(
      path.join(cwd, 'images.nix'),
      `let
  makeDiskImage = import <nixpkgs/nixos/lib/make-disk-image.nix>;
  common = {
    ${STORE_ONLY}
    partitionTableType = "legacy";
    ${POST_VM}
  };
in
{
  vdi = makeDiskImage (common // { format = "vdi"; baseName = "disk"; });
  qcow = makeDiskImage (common // { format = "qcow2"; });
}
`,
    );
    const { out } = await nixBuild(['images.nix', '-A', 'vdi', ...REDIRECT], cwd);
    expect(path.basename(out)).toMatch(/-nixos-disk-image$/);
    await expectNixpkgsOutput(out, { image: 'disk.vdi', productFormat: 'vdi' }, await nixdiskBuild(['images.nix', '-A', 'vdi'], cwd));
  });

  it("a module inside a NixOS configuration: '<nixpkgs/nixos>' -A config.system.build.qcow, the default efiVariables from pkgs.OVMF", async () => {
    const cwd = await caseFolder(dir, 'module');
    await writeFile(
      path.join(cwd, 'configuration.nix'),
      `{ config, lib, pkgs, modulesPath, ... }:
{
  system.packages = [ pkgs.hello ];
  # Way 1 of switching: the import names the drop-in instead of "\${modulesPath}/../lib/make-disk-image.nix".
  system.build.qcow = import ${DROP_IN} {
    inherit config lib pkgs;
    onlyNixStore = true;
    installBootLoader = false;
    copyChannel = false;
    format = "qcow2";
    partitionTableType = "hybrid";
    touchEFIVars = true;
    additionalPaths = [ pkgs.motd ];
    ${POST_VM}
  };
}
`,
    );
    const nixos = ['<nixpkgs/nixos>', '-A', 'config.system.build.qcow', '-I', `nixpkgs=${STAND_IN}`];
    const { out } = await nixBuild([...nixos, '-I', `nixos-config=${path.join(cwd, 'configuration.nix')}`], cwd);
    const efiVars = await readFile(
      (await nix('nix-build', ['--no-out-link', '-I', `nixpkgs=${STAND_IN}`, '-E', 'with import <nixpkgs> { }; OVMF.fd'], cwd)).stdout.trim() + '/FV/OVMF_VARS.fd',
    );
    // --arg configuration, the other way nixpkgs' nixos/default.nix takes a configuration.
    const byNixdisk = await nixdiskBuild([...nixos, '--arg', 'configuration', './configuration.nix'], cwd);
    await expectNixpkgsOutput(out, { image: 'nixos.qcow2', productFormat: 'qcow2', efiVars }, byNixdisk);
  });

  it("nixdisk build reaches nixpkgs' own modules unchanged: the stand-in's module imports ../../lib/make-disk-image.nix", async () => {
    const cwd = await caseFolder(dir, 'nixpkgs-module');
    await writeFile(path.join(cwd, 'configuration.nix'), `{ pkgs, ... }: { system.packages = [ pkgs.hello ]; }\n`);
    const nixos = ['<nixpkgs/nixos>', '-A', 'config.system.build.storeImage', '-I', `nixpkgs=${STAND_IN}`, '-I', `nixos-config=${path.join(cwd, 'configuration.nix')}`];
    // Plain nix-build reaches the stand-in's make-disk-image.nix, which refuses: the
    // success below is nixdisk's interception, not the stand-in's.
    const plain = await nix('nix-instantiate', nixos, cwd);
    expect(plain.stderr).toMatch(/the stand-in nixpkgs' make-disk-image\.nix was used/);
    const byNixdisk = await nixdiskBuild(nixos, cwd);
    expect(await readdir(byNixdisk)).toContain('nixos.qcow2');
  });
});

describe('a full NixOS image through the drop-in', () => {
  it('efi, qcow2, touchEFIVars, contents owned by a user, a configFile: $out and the bytes of nixdisk build', async () => {
    const cwd = await caseFolder(dir, 'full');
    await writeFile(path.join(cwd, 'motd'), 'welcome\n');
    await chmod(path.join(cwd, 'motd'), 0o644);
    const efiVars = randomBytes(32 * 1024);
    await writeFile(path.join(cwd, 'vars.fd'), efiVars);
    await chmod(path.join(cwd, 'vars.fd'), 0o644);
    // configFile is a store path here: nixpkgs (and the drop-in) copy a path value to the
    // store before copying it into the image, which leaves it read-only (0444), while
    // nixdisk build copies the host file with its own mode.
    await writeFile(
      path.join(cwd, 'image.nix'),
      `import ${DROP_IN} {
    pkgs = { }; lib = { };
    config = {
      system.build.toplevel = import ${FIXTURE_SYSTEM};
      users.users = { root = { uid = 0; group = "root"; isSystemUser = true; }; alice = { isNormalUser = true; group = "users"; }; };
      users.groups = { root = { gid = 0; }; users = { gid = 100; }; };
    };
    installBootLoader = false;
    copyChannel = false;
    partitionTableType = "efi";
    format = "qcow2";
    additionalSpace = "16M";
    touchEFIVars = true;
    efiVariables = ./vars.fd;
    contents = [ { source = ./motd; target = "/etc/motd"; mode = "0644"; user = "alice"; group = "users"; } ];
    configFile = builtins.toFile "configuration.nix" "{ }\n";
    ${POST_VM}
}
`,
    );
    const { out } = await nixBuild(['image.nix'], cwd);
    await expectNixpkgsOutput(out, { image: 'nixos.qcow2', productFormat: 'qcow2', efiVars }, await nixdiskBuild(['image.nix'], cwd));
  });
});

describe('nixdisk build on NixOS configurations, unchanged', () => {
  /** A configuration whose module names nixpkgs' own file, as most real call sites do. */
  const CONFIGURATION = `{ config, lib, pkgs, modulesPath, ... }:
{
  system.packages = [ pkgs.hello ];
  system.build.qcow = import "\${modulesPath}/../lib/make-disk-image.nix" {
    inherit config lib pkgs;
    onlyNixStore = true;
    installBootLoader = false;
    copyChannel = false;
    format = "qcow2";
    partitionTableType = "efi";
    additionalSpace = "0M";
    additionalPaths = [ pkgs.hello ];
  };
}
`;

  it("'<nixpkgs/nixos>' -I nixos-config=… and --flake DIR#nixosConfigurations.host…: the same image, through a substituted nixpkgs", async () => {
    const cwd = await caseFolder(dir, 'configurations');
    await writeFile(path.join(cwd, 'configuration.nix'), CONFIGURATION);
    const nixos = await nixdisk(
      ['build', '<nixpkgs/nixos>', '-A', 'config.system.build.qcow', '-I', `nixpkgs=${STAND_IN}`, '-I', `nixos-config=${path.join(cwd, 'configuration.nix')}`, '-o', 'nixos', '--json'],
      { cwd },
    );
    expect(nixos.code, nixos.stderr).toBe(0);
    // nixpkgs on the search path: evaluated against a substitute of it, not through the shim.
    expect(nixos.stderr).toContain('evaluated against a copy of nixpkgs whose make-disk-image.nix records the call');

    // A flake whose nixpkgs input is a copy of the stand-in, by a path: URL (offline).
    const flake = path.join(cwd, 'flake');
    await execa('cp', ['-R', STAND_IN, path.join(cwd, 'standin')]);
    await execa('mkdir', [flake]);
    await writeFile(path.join(flake, 'configuration.nix'), CONFIGURATION);
    await writeFile(
      path.join(flake, 'flake.nix'),
      `{
  inputs.nixpkgs.url = "path:${path.join(cwd, 'standin')}";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.host = nixpkgs.lib.nixosSystem {
      system = "x86_64-linux";
      modules = [ ./configuration.nix ];
    };
  };
}
`,
    );
    const fromFlake = await nixdisk(['build', '--flake', `${flake}#nixosConfigurations.host.config.system.build.qcow`, '-o', 'flake-out'], { cwd });
    expect(fromFlake.code, fromFlake.stderr).toBe(0);
    expect(await readFile(path.join(cwd, 'flake-out', 'nix-support', 'hydra-build-products'), 'utf8')).toBe(
      `file qcow2-image ${path.join(cwd, 'flake-out', 'nixos.qcow2')}\n`,
    );
    expect(await sha256(path.join(cwd, 'flake-out', 'nixos.qcow2'))).toBe(await sha256(path.join(cwd, 'nixos', 'nixos.qcow2')));

    const notACall = await nixdisk(['build', '--flake', `${flake}#nixosConfigurations.host.config.system.build.toplevel`, '-o', 'nothing'], { cwd });
    expect(notACall.code).toBe(1);
    expect(notACall.stderr).toMatch(/is not a make-disk-image call from the flake's `nixpkgs` input/);
  });
});

describe("nixpkgs' asserts in the drop-in", () => {
  it.each([
    ['installBootLoader', `onlyNixStore = true;`, 'installBootLoader defaults to true, which nixpkgs rejects for a store-only image (onlyNixStore = true); add installBootLoader = false'],
    ['partitionTableType', `partitionTableType = "gtp";`, 'partitionTableType "gtp" is not one of "none", "legacy", "legacy+boot", "legacy+gpt", "efi", "efixbootldr", "hybrid"'],
    ['touchEFIVars', `touchEFIVars = true; efiVariables = ./x;`, 'touchEFIVars needs partitionTableType hybrid, efi, efixbootldr or legacy+gpt, not "legacy"'],
    ['rootFSUID', `rootFSUID = null;`, 'In deterministic mode an ext4 root filesystem needs a rootFSUID'],
  ])('%s: a Nix evaluation error with the message nixdisk check gives', async (name, args, message) => {
    const cwd = await caseFolder(dir, `assert-${name}`);
    await writeFile(path.join(cwd, 'image.nix'), `import ${DROP_IN} { pkgs = { }; lib = { }; config = { }; ${args} }\n`);
    const run = await nix('nix-instantiate', ['image.nix'], cwd);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error: nixdisk: make-disk-image: ${message}`);
    const check = await nixdisk(['check', 'image.nix'], { cwd });
    expect(check.stdout + check.stderr).toContain(message);
  });
});

/** A store-only call whose name is new, so Nix builds it now rather than finding it built. */
async function freshCall(cwd: string, postVM: string): Promise<string> {
  const name = `nixdisk-fresh-${randomBytes(6).toString('hex')}`;
  await writeFile(
    path.join(cwd, 'image.nix'),
    `import ${DROP_IN} {
    ${STORE_ONLY}
    name = "${name}";
    format = "qcow2";
    partitionTableType = "efi";
    postVM = ''${postVM}'';
}
`,
  );
  return name;
}

describe.runIf(isRoot)('as root: the sandbox and a remote builder', () => {
  it("builds in Nix's sandbox (sandbox = true), seeing only its inputs and the host's node and tools", async () => {
    const cwd = await caseFolder(dir, 'sandbox');
    const name = await freshCall(cwd, 'ls / > $out/root-listing');
    // With a stand-in pkgs the builder is this checkout's nixdisk (an input, copied to the
    // store) under the host's node and tools, which the sandbox must be given; from
    // nixpkgs those are inputs too. The checkout itself is not visible in the sandbox.
    const hostPaths = ['/bin', '/usr', '/lib', '/lib64'].join(' ');
    const { out, log } = await nixBuild(['image.nix', '--option', 'sandbox', 'true', '--option', 'extra-sandbox-paths', hostPaths], cwd);
    expect(log).toContain(`building '`);
    expect(log).toContain(`${name}.drv'`);
    const listing = (await readFile(path.join(out, 'root-listing'), 'utf8')).split('\n');
    // The sandbox's root: the build folder and the store, but not the host's /var or /root.
    expect(listing).toContain('build');
    expect(listing).toContain('nix');
    expect(listing).not.toContain('var');
    expect(listing).not.toContain('root');
    await stat('/var');
    const byNixdisk = await nixdiskBuild(['image.nix'], cwd);
    expect(await sha256(path.join(out, 'nixos.qcow2'))).toBe(await sha256(path.join(byNixdisk, 'nixos.qcow2')));
  });

  it('builds on a remote builder over ssh (--builders ssh://root@localhost, --max-jobs 0)', async () => {
    const cwd = await caseFolder(dir, 'remote');
    const ssh = path.join(cwd, 'ssh');
    await execa('mkdir', ['-m', '0700', ssh]);
    for (const key of ['host_key', 'client_key']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(ssh, key)]);
    await writeFile(path.join(ssh, 'authorized_keys'), await readFile(path.join(ssh, 'client_key.pub')));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const sshdLog = path.join(ssh, 'sshd.log');
    await execa('mkdir', ['-p', '/run/sshd']);
    // The builder has a store of its own, as a remote machine has: the sshd (and the
    // nix-store --serve it starts) sees an empty folder of the test's at /nix. Sharing
    // this machine's store would deadlock: both sides would lock the same output path.
    const remoteNix = path.join(cwd, 'remote-nix');
    await execa('mkdir', [remoteNix]);
    const sshdArgs = ['-D', '-e', '-f', '/dev/null', '-p', String(port), '-h', path.join(ssh, 'host_key'), '-E', sshdLog,
      '-o', 'ListenAddress=127.0.0.1', '-o', `AuthorizedKeysFile=${path.join(ssh, 'authorized_keys')}`,
      '-o', 'PermitRootLogin=prohibit-password', '-o', 'PasswordAuthentication=no', '-o', 'UsePAM=no',
      '-o', 'StrictModes=no', '-o', 'PidFile=none'];
    const sshd = execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /nix && exec "$@"', remoteNix, '/usr/sbin/sshd', ...sshdArgs], {
      reject: false,
    });
    try {
      await waitForPort(port);
      const name = await freshCall(cwd, 'echo built > $out/postvm-ran');
      const builder = `ssh://root@localhost x86_64-linux ${path.join(ssh, 'client_key')} 1`;
      const sshOptions = `-p ${port} -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o IdentitiesOnly=yes -o LogLevel=ERROR`;
      const { out, log } = await nixBuild(['image.nix', '--max-jobs', '0', '--builders', builder, '--option', 'builders-use-substitutes', 'false'], cwd, {
        NIX_SSHOPTS: sshOptions,
      });
      // Nix says where it built, and the sshd saw the builder's key and Nix's serve protocol.
      expect(log).toMatch(new RegExp(`building '[^']*${name}\\.drv' on 'ssh://root@localhost'`));
      const seen = await readFile(sshdLog, 'utf8');
      expect(seen).toMatch(/Accepted publickey for root from 127\.0\.0\.1/);
      // The image was made in the builder's store and copied back from there.
      expect(await readdir(path.join(remoteNix, 'store'))).toContain(path.basename(out));
      expect(await readFile(path.join(out, 'postvm-ran'), 'utf8')).toBe('built\n');
      expect(await readFile(path.join(out, 'nix-support', 'hydra-build-products'), 'utf8')).toBe(`file qcow2-image ${out}/nixos.qcow2\n`);
    } finally {
      sshd.kill('SIGTERM');
      await sshd;
    }
  });
});

async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await execa('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { reject: false });
    if (probe.exitCode === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd did not listen on port ${port}`);
}
