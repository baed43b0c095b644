/**
 * `nixdisk build` when things go wrong, run as the user runs it (the built CLI, real Nix,
 * real tools): a disk too small, a bad -A, Nix evaluation errors, rule errors, a missing
 * tool, Ctrl-C in the middle, and output folders that exist already. Each failure must
 * say what and where, exit 1 (130 when interrupted), and leave nothing behind: no output
 * folder, no temporary sibling of it, nothing in TMPDIR, no tool still running.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_CLOSURE, nixString, writeCall } from '../helpers/build-fixture.js';
import { caseFolder, expectNoStackTrace, expectNothingLeft, interruptRun, nixdisk, type CliRun } from './fixtures/cli.js';

const LARGE_CLOSURE = path.join(import.meta.dirname, 'fixtures', 'large-closure.nix');
const SLOW_CLOSURE = path.join(import.meta.dirname, 'fixtures', 'slow-closure.nix');
const MAKE_DISK_IMAGE = 'import <nixpkgs/nixos/lib/make-disk-image.nix>';
const STORE_ONLY = `pkgs = { }; lib = { }; config = { };
  onlyNixStore = true; installBootLoader = false; copyChannel = false;`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-failures-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Processes whose command line mentions `text` (pgrep never lists itself). */
async function processesMentioning(text: string): Promise<string> {
  const { stdout } = await execa('pgrep', ['-a', '-f', text], { reject: false });
  return stdout.trim();
}

function expectFailure(run: CliRun): void {
  expect(run.code, run.stderr).toBe(1);
  expectNoStackTrace(run.stderr);
  expect(run.stdout).toBe('');
}

describe('a diskSize that is too small', () => {
  it.each([
    ['none', 1],
    ['efi', 259],
  ] as const)('%s, diskSize = %i: names the size that fits, which then builds', async (layout, diskSize) => {
    const cwd = await caseFolder(dir, `small-${layout}`);
    await writeCall(cwd, 'image', { partitionTableType: `"${layout}"`, diskSize: String(diskSize) });

    const failed = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expectFailure(failed);
    const suggestion = /the disk needs at least (\d+) MiB\. Set diskSize = (\d+) or diskSize = "auto"/.exec(failed.stderr);
    expect(suggestion, failed.stderr).not.toBeNull();
    const [, neededMiB, suggested] = suggestion!;
    expect(suggested).toBe(neededMiB);
    expect(Number(suggested)).toBeGreaterThan(diskSize);
    // The fixture's ext4 needs a little over a MiB: the message must not round it down to "1 MiB".
    expect(failed.stderr).toMatch(/root filesystem needs 1\.[1-9] MiB/);
    await expectNothingLeft(cwd, 'out', ['image.nix']);

    await writeCall(cwd, 'image', { partitionTableType: `"${layout}"`, diskSize: suggested! });
    const built = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(built.code, built.stderr).toBe(0);
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', path.join(cwd, 'out', 'nixos.img')])).stdout);
    expect(info['virtual-size']).toBe(Number(suggested) * 1024 * 1024);
    await expectNothingLeft(cwd, 'out', ['image.nix', 'out']);
  });

  it.each(['btrfs', 'xfs', 'f2fs'])('fsType %s: the suggested diskSize builds', async (fsType) => {
    const cwd = await caseFolder(dir, `small-${fsType}`);
    await writeCall(cwd, 'image', { partitionTableType: '"none"', fsType: `"${fsType}"`, diskSize: '2' });
    const failed = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expectFailure(failed);
    const suggested = /Set diskSize = (\d+) or diskSize = "auto"/.exec(failed.stderr)?.[1];
    expect(suggested, failed.stderr).toBeDefined();
    await expectNothingLeft(cwd, 'out', ['image.nix']);

    await writeCall(cwd, 'image', { partitionTableType: '"none"', fsType: `"${fsType}"`, diskSize: suggested! });
    const built = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(built.code, built.stderr).toBe(0);
    await expectNothingLeft(cwd, 'out', ['image.nix', 'out']);
  });

  it('a disk too small for the layout itself is a rule error at the diskSize line', async () => {
    const cwd = await caseFolder(dir, 'small-layout');
    await writeCall(cwd, 'image', { partitionTableType: '"efi"', diskSize: '258' });
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expectFailure(run);
    expect(run.stderr).toMatch(/^image\.nix:10:14: error: .*needs at least 259 MiB \[disk-too-small\]$/m);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });

  it('a failed build removes the parent folders -o made for it', async () => {
    const cwd = await caseFolder(dir, 'small-nested');
    await writeCall(cwd, 'image', { partitionTableType: '"none"', diskSize: '1' });
    const run = await nixdisk(['build', 'image.nix', '-o', 'deep/er/out'], { cwd });
    expectFailure(run);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });

  it('a missing TMPDIR fails the build without leaving the output\'s temporary sibling', async () => {
    const cwd = await caseFolder(dir, 'no-tmpdir');
    await writeCall(cwd, 'image', { partitionTableType: '"none"' });
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd, env: { TMPDIR: path.join(cwd, 'absent') } });
    expectFailure(run);
    expect(run.stderr).toMatch(/absent/);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });
});

describe('what -A and Nix say', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await caseFolder(dir, 'evaluation');
    await writeCall(cwd, 'image', { partitionTableType: '"none"' });
    await writeFile(
      path.join(cwd, 'attrs.nix'),
      `{\n  image = import ./image.nix;\n  settings = { diskSize = 64; };\n  nested.deeper = 1;\n}\n`,
    );
    await writeFile(
      path.join(cwd, 'typo.nix'),
      `let\n  sizes = { small = 64; };\nin\n${MAKE_DISK_IMAGE} {\n  ${STORE_ONLY}\n  additionalPaths = [ (import ${FIXTURE_CLOSURE}) ];\n  diskSize = sizes.smal;\n}\n`,
    );
    await writeFile(path.join(cwd, 'syntax.nix'), `${MAKE_DISK_IMAGE} {\n  format = "raw"\n  diskSize = 64;\n}\n`);
  });

  it.each([
    ['-A naming a missing attribute', ['attrs.nix', '-A', 'imgae'], /attribute `imgae` of .*attrs\.nix does not exist; .*attrs\.nix has: image, nested, settings/],
    ['-A naming something that is not a call', ['attrs.nix', '-A', 'settings'], /attribute `settings` of .*attrs\.nix is not a make-disk-image call \(it is a set\)/],
    ['-A past a non-set', ['attrs.nix', '-A', 'nested.deeper.x'], /is an integer, so it has no attribute `x`/],
    ['a file that is not a call', ['attrs.nix'], /attrs\.nix is not a make-disk-image call \(it is a set\); it holds make-disk-image calls at: image \(choose one with -A\)/],
    ['a misspelt attribute name', ['typo.nix'], /error: attribute 'smal' missing[\s\S]*typo\.nix:8:14[\s\S]*Did you mean small\?/],
    ['a syntax error', ['syntax.nix'], /error: syntax error, unexpected[\s\S]*syntax\.nix:3:\d+/],
    ['a file that does not exist', ['absent.nix'], /absent\.nix/],
  ])('%s: Nix\'s message, exit 1, nothing built', async (_, args, message) => {
    const run = await nixdisk(['build', ...args, '-o', 'out'], { cwd });
    expectFailure(run);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/realising/);
    expect(run.stderr).not.toMatch(/--show-trace/);
    await expectNothingLeft(cwd, 'out', ['attrs.nix', 'image.nix', 'syntax.nix', 'typo.nix']);
  });
});

describe('rule errors in the evaluated arguments', () => {
  it.each([
    ['an unknown partitionTableType', { partitionTableType: '"gpt"' }, /^image\.nix:9:24: error: partitionTableType "gpt" is not one of .* \[invalid-partition-table-type\]$/m],
    ['a misspelt argument', { fromat: '"qcow2"' }, /^image\.nix:9:3: error: make-disk-image has no argument "fromat"; did you mean format\? \[unknown-argument\]$/m],
    ['a bad bootSize', { partitionTableType: '"efi"', bootSize: '"1024MB"' }, /^image\.nix:10:14: error: bootSize "1024MB" is not a size .*; write "1024M" \[invalid-size\]$/m],
  ])('%s: file:line:col, exit 1, nothing realised or written', async (_, extra, message) => {
    const cwd = await caseFolder(dir, `rule-${Object.keys(extra).join('-')}-${Object.values(extra).join('').replace(/\W/g, '')}`);
    await writeCall(cwd, 'image', extra);
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expectFailure(run);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/realising/);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });

  it('with -A among several calls, the errors point at the chosen call', async () => {
    const cwd = await caseFolder(dir, 'rule-several-calls');
    await writeFile(
      path.join(cwd, 'images.nix'),
      `let
  mk = ${MAKE_DISK_IMAGE};
in {
` +
        `  good = mk {
    ${STORE_ONLY}
    partitionTableType = "none";
  };
` +
        `  layout = mk {
    ${STORE_ONLY}
    partitionTableType = "gpt";
  };
` +
        `  spelling = mk {
    ${STORE_ONLY}
    partitionTableType = "none";
    fromat = "raw";
  };
}
`,
    );
    const layout = await nixdisk(['build', 'images.nix', '-A', 'layout', '-o', 'out'], { cwd });
    expectFailure(layout);
    expect(layout.stderr).toMatch(/^images\.nix:12:26: error: partitionTableType "gpt" .*\[invalid-partition-table-type\]$/m);
    const spelling = await nixdisk(['build', 'images.nix', '-A', 'spelling', '-o', 'out'], { cwd });
    expectFailure(spelling);
    expect(spelling.stderr).toMatch(/^images\.nix:18:5: error: make-disk-image has no argument "fromat".*\[unknown-argument\]$/m);
    await expectNothingLeft(cwd, 'out', ['images.nix']);
  });

  it('installBootLoader left at its default on a store-only image points at onlyNixStore', async () => {
    const cwd = await caseFolder(dir, 'rule-bootloader');
    await writeFile(
      path.join(cwd, 'image.nix'),
      `${MAKE_DISK_IMAGE} {\n  pkgs = { };\n  lib = { };\n  config = { };\n  onlyNixStore = true;\n  additionalPaths = [ (import ${FIXTURE_CLOSURE}) ];\n}\n`,
    );
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expectFailure(run);
    expect(run.stderr).toMatch(/^image\.nix:5:18: error: installBootLoader defaults to true.* \[only-nix-store-conflict\]$/m);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });
});

describe('a failing postVM', () => {
  it('shows the hook\'s own stderr, exit 1, no output and nothing in TMPDIR', async () => {
    const cwd = await caseFolder(dir, 'postvm-fails');
    await writeCall(cwd, 'image', { partitionTableType: '"none"', postVM: nixString('echo made > $out/partial; echo "no space for the copy" >&2; exit 3') });
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expectFailure(run);
    expect(run.stderr).toMatch(/nixdisk: build failed: bash exited with status 3:\nno space for the copy$/m);
    expect(run.stderr).not.toMatch(/\[1\]/);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });
});

describe('a missing tool', () => {
  /** A tool folder holding every program of the system's bin folders except `missing`. */
  async function toolsWithout(missing: string): Promise<string> {
    const tools = path.join(dir, `tools-without-${missing}`);
    await mkdir(tools, { recursive: true });
    for (const bin of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
      const names = await readdir(bin).catch(() => [] as string[]);
      for (const name of names) {
        if (name === missing) continue;
        await symlink(path.join(bin, name), path.join(tools, name)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
      }
    }
    return tools;
  }

  // qemu-img only converts to what nixdisk does not write itself: zstd-compressed qcow2.
  it.each([
    ['qemu-img', 'qemu-utils', '"qcow2-compressed"', ['--compression', 'zstd']],
    ['mke2fs', 'e2fsprogs', '"qcow2"', []],
    ['nix-instantiate', 'nix-bin', '"qcow2"', []],
    // The closure query; nix-store itself is needed only to build what is not built yet.
    ['nix', 'nix-bin', '"qcow2"', []],
  ])('without %s: names the Debian package %s, leaves nothing', async (tool, debianPackage, format, options) => {
    const cwd = await caseFolder(dir, `missing-${tool}`);
    await writeCall(cwd, 'image', { partitionTableType: '"efi"', format });
    const run = await nixdisk(['build', 'image.nix', '-o', 'out', ...options], { cwd, env: { NIXDISK_TOOL_PATH: await toolsWithout(tool) } });
    expectFailure(run);
    expect(run.stderr).toContain(`'${tool}' was not found on PATH; install the Debian package '${debianPackage}'`);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });
});

describe('Ctrl-C (SIGINT to nixdisk alone) in the middle of a build', () => {
  async function expectInterruptedCleanly(run: CliRun, cwd: string, expected: string[], exitCode = 130): Promise<void> {
    expect(run.code, run.stderr).toBe(exitCode);
    expect(run.stderr).toMatch(/interrupted, cleaning up/);
    expect(run.stderr).toMatch(/build interrupted; nothing was written/);
    expectNoStackTrace(run.stderr);
    expect(run.stdout).toBe('');
    await expectNothingLeft(cwd, 'out', expected);
    expect(await processesMentioning(cwd)).toBe('');
  }

  let largeCall: string;
  beforeAll(async () => {
    largeCall = `${MAKE_DISK_IMAGE} {\n  ${STORE_ONLY}\n  additionalPaths = [ (import ${LARGE_CLOSURE} { }) ];\n  partitionTableType = "efi";\n  format = "qcow2-compressed";\n}\n`;
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s while the image is deflated: stops it at once, exit %i, nothing left', async (signal, exitCode) => {
    const cwd = await caseFolder(dir, `${signal}-convert`);
    await writeFile(path.join(cwd, 'image.nix'), largeCall);
    const run = await interruptRun(cwd, ['build', 'image.nix', '-o', 'out'], '==> writing nixos.qcow2', 700, signal);
    await expectInterruptedCleanly(run, cwd, ['image.nix'], exitCode);
    // Compressing the whole image takes several seconds more; the deflate threads must have been stopped.
    expect(run.afterSignalMs).toBeLessThan(3000);
  });

  it('while the root filesystem is written: exit 130, nothing left', async () => {
    const cwd = await caseFolder(dir, 'sigint-populate');
    await writeFile(path.join(cwd, 'image.nix'), largeCall);
    // Writing the 320 MB closure takes about 0.25 s: the signal lands in the middle.
    // The root filesystem is filled while the disk is written (raw, before it is deflated).
    const run = await interruptRun(cwd, ['build', 'image.nix', '-o', 'out'], '==> writing the ', 60);
    await expectInterruptedCleanly(run, cwd, ['image.nix']);
    expect(run.stderr).not.toMatch(/==> writing nixos/);
    expect(run.afterSignalMs).toBeLessThan(1500);
  });

  it('while postVM runs: the hook and what it started are stopped, exit 130, nothing left', async () => {
    const cwd = await caseFolder(dir, 'sigint-postvm');
    const pause = `sleep 9.${process.pid}`;
    await writeCall(cwd, 'image', { partitionTableType: '"none"', postVM: nixString(`echo postvm-started; ${pause}; echo late > $out/late`) });
    const run = await interruptRun(cwd, ['build', 'image.nix', '-o', 'out'], 'postvm-started', 300);
    await expectInterruptedCleanly(run, cwd, ['image.nix']);
    expect(run.afterSignalMs).toBeLessThan(3000);
    expect(await processesMentioning(pause)).toBe('');
  });

  it('--json: the interrupt and its outcome are JSON lines too', async () => {
    const cwd = await caseFolder(dir, 'sigint-json');
    await writeCall(cwd, 'image', { partitionTableType: '"none"', postVM: nixString('echo postvm-started; sleep 20') });
    const run = await interruptRun(cwd, ['build', 'image.nix', '--json', '-o', 'out'], '"line":"postvm-started"', 200);
    expect(run.code, run.stderr).toBe(130);
    const events = run.stderr.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.slice(-2)).toEqual([
      { type: 'interrupted', signal: 'SIGINT' },
      { type: 'error', interrupted: true, message: 'build interrupted; nothing was written' },
    ]);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });

  it('while Nix realises the closure: the builder is stopped too, exit 130, nothing left', async () => {
    const cwd = await caseFolder(dir, 'sigint-realise');
    const nonce = `interrupted-${process.pid}-${Date.now()}`;
    await writeFile(
      path.join(cwd, 'image.nix'),
      `{ nonce }:\n${MAKE_DISK_IMAGE} {\n  ${STORE_ONLY}\n  additionalPaths = [ (import ${SLOW_CLOSURE} { inherit nonce; }) ];\n  partitionTableType = "none";\n}\n`,
    );
    const run = await interruptRun(cwd, ['build', 'image.nix', '--argstr', 'nonce', nonce, '-o', 'out'], "building '", 500);
    await expectInterruptedCleanly(run, cwd, ['image.nix']);
    expect(run.afterSignalMs).toBeLessThan(10_000);
    expect(await processesMentioning(nonce)).toBe('');
  });
});

describe('an output folder that exists already', () => {
  it('is refused, before any Nix work, when it is not an image output; the user\'s file stays', async () => {
    const cwd = await caseFolder(dir, 'existing-user-folder');
    await writeCall(cwd, 'image', { partitionTableType: '"none"' });
    await mkdir(path.join(cwd, 'out'));
    await writeFile(path.join(cwd, 'out', 'notes.txt'), 'mine\n');
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expectFailure(run);
    expect(run.stderr).toMatch(/out exists and is not an image output folder \(no nix-support\/hydra-build-products\); refusing to replace it/);
    expect(run.stderr).not.toMatch(/==> evaluating/);
    expect(await readdir(path.join(cwd, 'out'))).toEqual(['notes.txt']);
    expect(await readFile(path.join(cwd, 'out', 'notes.txt'), 'utf8')).toBe('mine\n');
    expect(await readdir(path.join(cwd, 'tmp'))).toEqual([]);
  });

  it('is refused when it is a plain file or a dangling symlink', async () => {
    const cwd = await caseFolder(dir, 'existing-file');
    await writeCall(cwd, 'image', { partitionTableType: '"none"' });
    await writeFile(path.join(cwd, 'out'), 'a file\n');
    await symlink('/nix/store/00000000000000000000000000000000-collected', path.join(cwd, 'dangling'));
    for (const name of ['out', 'dangling']) {
      const run = await nixdisk(['build', 'image.nix', '-o', name], { cwd });
      expectFailure(run);
      expect(run.stderr).toMatch(/exists and is not an image output folder/);
    }
    expect(await readFile(path.join(cwd, 'out'), 'utf8')).toBe('a file\n');
  });

  it('a result symlink to an earlier output is replaced by the new folder; its target stays', async () => {
    const cwd = await caseFolder(dir, 'existing-symlink');
    await writeCall(cwd, 'image', { partitionTableType: '"none"' });
    const earlier = path.join(dir, 'earlier-output-elsewhere');
    await mkdir(path.join(earlier, 'nix-support'), { recursive: true });
    await writeFile(path.join(earlier, 'nix-support', 'hydra-build-products'), 'file raw-image /elsewhere/nixos.img\n');
    await symlink(earlier, path.join(cwd, 'result'));
    const run = await nixdisk(['build', 'image.nix'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    expect((await lstat(path.join(cwd, 'result'))).isDirectory()).toBe(true);
    expect((await readdir(path.join(cwd, 'result'))).sort()).toEqual(['nix-support', 'nixos.img']);
    expect(await readFile(path.join(earlier, 'nix-support', 'hydra-build-products'), 'utf8')).toBe('file raw-image /elsewhere/nixos.img\n');
    await expectNothingLeft(cwd, 'result', ['image.nix', 'result']);
  });

  it('is replaced when it is an earlier image output', async () => {
    const cwd = await caseFolder(dir, 'existing-output');
    await writeCall(cwd, 'image', { partitionTableType: '"none"' });
    const first = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(first.code, first.stderr).toBe(0);
    await writeFile(path.join(cwd, 'out', 'from-the-first-build'), '');

    await writeCall(cwd, 'image', { partitionTableType: '"none"', format: '"qcow2"' });
    const second = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe(path.join(cwd, 'out'));
    expect((await readdir(path.join(cwd, 'out'))).sort()).toEqual(['nix-support', 'nixos.qcow2']);
    await expectNothingLeft(cwd, 'out', ['image.nix', 'out']);
  });
});
