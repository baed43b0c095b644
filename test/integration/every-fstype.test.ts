/**
 * Every fsType through every command, run as the user runs the CLI (CI runs this file a
 * second time as an ordinary user in nix-users, talking to nix-daemon): build, inspect
 * and verify succeed, a failed build and Ctrl-C leave nothing, and after each command
 * the command's TMPDIR is empty again. As an ordinary user the staged copies of store
 * paths keep the store's read-only directories, which a plain `rm -rf` cannot remove.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILESYSTEMS } from '../../src/image/fs/index.js';
import { PARTITION_TABLE_TYPES } from '../../src/options.js';
import { PACKAGE_ROOT } from '../../src/package.js';
import { imageOwners } from '../helpers/image-owners.js';
import { caseFolder, expectNoStackTrace, expectNothingLeft, interruptRun, nixdisk } from './fixtures/cli.js';

const STORE_PATHS = path.join(PACKAGE_ROOT, 'examples', 'store-paths.nix');
const LARGE_CLOSURE = path.join(import.meta.dirname, 'fixtures', 'large-closure.nix');
const FS_TYPES = Object.keys(FILESYSTEMS);
/** One table per fsType, so that every fsType and every table is built here once (ext4 meets every table in build-matrix). */
const TABLE_OF: Record<string, string> = {
  ext4: 'efixbootldr',
  btrfs: 'efi',
  xfs: 'legacy+gpt',
  erofs: 'legacy',
  squashfs: 'legacy+boot',
  vfat: 'none',
  f2fs: 'hybrid',
};
/** No userspace tool reads files back out of these without mounting (see their modules). */
const NOT_EXTRACTABLE = new Set(['xfs', 'f2fs']);

/** A store-only call over the examples' greeting (nested read-only directories, no symlink: FAT takes it too) and motd. */
function call(extra: Record<string, string>, paths = `[ store.greeting store.motd ]`): string {
  const lines = Object.entries(extra).map(([name, value]) => `  ${name} = ${value};`);
  return `let store = import ${STORE_PATHS}; in
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { }; lib = { }; config = { };
  onlyNixStore = true; installBootLoader = false; copyChannel = false;
  additionalPaths = ${paths};
${lines.join('\n')}
}
`;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-every-fstype-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('covers every fsType and every partition table', () => {
  expect(Object.keys(TABLE_OF).sort()).toEqual([...FS_TYPES].sort());
  expect(Object.values(TABLE_OF).sort()).toEqual([...PARTITION_TABLE_TYPES].sort());
});

it.runIf(process.env.NIXDISK_ORDINARY_USER_PASS === '1')('runs as an ordinary user in nix-users, without /usr/sbin on PATH', async () => {
  expect(process.getuid!()).not.toBe(0);
  expect((process.env.PATH ?? '').split(':')).not.toContain('/usr/sbin');
  const { execa } = await import('execa');
  expect((await execa('id', ['-nG'])).stdout.split(' ')).toContain('nix-users');
});

describe.each(FS_TYPES.map((fsType) => [fsType, TABLE_OF[fsType]!]))('fsType %s (table %s)', (fsType, table) => {
  it('build, inspect and verify succeed and each leaves its TMPDIR empty; the files are root:root', async () => {
    const cwd = await caseFolder(dir, `${fsType}-ok`);
    await writeFile(path.join(cwd, 'image.nix'), call({ fsType: `"${fsType}"`, partitionTableType: `"${table}"`, format: '"raw"' }));

    const built = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(built.code, built.stderr).toBe(0);
    await expectNothingLeft(cwd, 'out', ['image.nix', 'out']);

    const inspected = await nixdisk(['inspect', 'out', '--json'], { cwd });
    expect(inspected.code, inspected.stderr).toBe(0);
    const info = JSON.parse(inspected.stdout) as { filesystems: { type: string; offsetBytes: number; sizeBytes: number }[] };
    expect(info.filesystems.map((fs) => fs.type)).toContain(fsType);
    await expectNothingLeft(cwd, 'out', ['image.nix', 'out']);

    const verified = await nixdisk(['verify', 'out'], { cwd });
    if (NOT_EXTRACTABLE.has(fsType)) {
      expect(verified.code).toBe(1);
      expect(verified.stderr).toMatch(/no userspace tool can read this filesystem without mounting it/);
    } else if (fsType === 'vfat') {
      // FAT keeps no exec bits: greeting's bin/greet comes back as a plain file, so its NAR hash differs.
      expect(verified.code, verified.stderr).toBe(1);
      expect(verified.stdout).toMatch(/^ {2}corrupted {4}\/nix\/store\/[0-9a-z]{32}-greeting$/m);
      expect(verified.stdout).toMatch(/^FAILED: 1 store path\(s\) verified; 1 corrupted, 0 unregistered, 0 missing$/m);
    } else {
      expect(verified.code, verified.stderr + verified.stdout).toBe(0);
      // greeting, motd
      expect(verified.stdout).toMatch(/^ok: 2 store path\(s\) verified$/m);
    }
    expectNoStackTrace(verified.stderr);
    await expectNothingLeft(cwd, 'out', ['image.nix', 'out']);

    const root = info.filesystems.filter((fs) => fs.type === fsType).sort((a, b) => b.sizeBytes - a.sizeBytes)[0]!;
    const owners = await imageOwners(fsType, path.join(cwd, 'out', 'nixos.img'), root.offsetBytes, root.sizeBytes, path.join(cwd, 'carved'));
    if (owners !== null) {
      expect(owners.length).toBeGreaterThan(5);
      expect(new Set(owners.map((entry) => `${entry.uid}:${entry.gid}`)), JSON.stringify(owners)).toEqual(new Set(['0:0']));
    }
  });

  it('a failed build (diskSize too small, after staging) leaves nothing', async () => {
    const cwd = await caseFolder(dir, `${fsType}-small`);
    // 16 MB of random bytes: no fsType fits them into 8 MiB, and each finds out only after staging.
    await writeFile(path.join(cwd, 'image.nix'), call({ fsType: `"${fsType}"`, partitionTableType: '"none"', diskSize: '8' }, `[ (import ${LARGE_CLOSURE} { megabytes = 2; }) ]`));
    const run = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/diskSize = 8 MiB is too small/);
    expectNoStackTrace(run.stderr);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });

  it('Ctrl-C while the root filesystem is written leaves nothing', async () => {
    const cwd = await caseFolder(dir, `${fsType}-sigint`);
    await writeFile(path.join(cwd, 'image.nix'), call({ fsType: `"${fsType}"`, partitionTableType: '"none"' }, `[ (import ${LARGE_CLOSURE} { }) ]`));
    // ext4 is formatted and planned first, then filled while the image is written.
    const marker = fsType === 'ext4' ? '==> writing nixos.img' : `==> writing the ${fsType} root filesystem`;
    const run = await interruptRun(cwd, ['build', 'image.nix', '-o', 'out'], marker, 100);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/build interrupted; nothing was written/);
    expectNoStackTrace(run.stderr);
    await expectNothingLeft(cwd, 'out', ['image.nix']);
  });
});

describe('Ctrl-C during verify and inspect of a large image', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await caseFolder(dir, 'large');
    await writeFile(path.join(cwd, 'image.nix'), call({ partitionTableType: '"efi"', format: '"qcow2"' }, `[ (import ${LARGE_CLOSURE} { }) ]`));
    const built = await nixdisk(['build', 'image.nix', '-o', 'out'], { cwd });
    expect(built.code, built.stderr).toBe(0);
  });

  it.each([
    // verify converts the qcow2, extracts 320 MB and hashes it: seconds; inspect converts it first.
    ['verify', 500],
    ['inspect', 100],
  ])('%s: exit 130, its TMPDIR empty', async (command, delayMs) => {
    const tmp = path.join(cwd, 'tmp');
    expect(await readdir(tmp)).toEqual([]);
    const run = await nixdisk([command, 'out'], {
      cwd,
      // Once its scratch folder exists the command handles the signal; a moment later it is in the middle of its work.
      onSpawn: (child) => {
        let seen = false;
        const poll = setInterval(() => {
          void readdir(tmp).then((names) => {
            // One signal only: a second one means "quit at once, skip the cleanup".
            if (names.length === 0 || seen) return;
            seen = true;
            clearInterval(poll);
            setTimeout(() => child.kill('SIGINT'), delayMs);
          });
        }, 10);
        child.on('exit', () => clearInterval(poll));
      },
    });
    expect(run.code, run.stdout + run.stderr).toBe(130);
    expect(run.stderr).toMatch(new RegExp(`${command} interrupted`));
    expectNoStackTrace(run.stderr);
    expect(await readdir(path.join(cwd, 'tmp'))).toEqual([]);
  });
});
