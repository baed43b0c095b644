/**
 * vitest globalSetup: the test run leaves the temporary folder as it found it.
 *
 * The run gets a private TMPDIR (`nixdisk-test-run-*` inside the real one), inherited by
 * the test workers and every nixdisk, Nix and tool process they start. When the run
 * ends that folder must be empty: whatever a test or nixdisk left there fails the run
 * (named, then removed, so the next run starts clean). Folders that bypass TMPDIR
 * (`/dev/shm` for a second filesystem) are watched too: a `nixdisk-*` entry that was
 * not there before fails the run under CI; elsewhere other runs may be creating such
 * entries at the same time, so it is only reported.
 */
import { chmodSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeTree } from '../../src/remove-tree.js';

const RUN_PREFIX = 'nixdisk-test-run-';

function nixdiskEntries(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir).filter((name) => name.startsWith('nixdisk-') && !name.startsWith(RUN_PREFIX)));
  } catch {
    return new Set();
  }
}

export default function setup(): () => Promise<void> {
  const outer = os.tmpdir();
  const watched = [...new Set([outer, '/tmp', '/dev/shm'])];
  const before = new Map(watched.map((dir) => [dir, nixdiskEntries(dir)]));
  const runDir = mkdtempSync(path.join(outer, RUN_PREFIX));
  // Nix run as root (no daemon) builds in TMPDIR as a nixbld user, who must be able to pass through.
  chmodSync(runDir, 0o755);
  process.env.TMPDIR = runDir;

  return async () => {
    process.env.TMPDIR = outer;
    const leftInRunDir = readdirSync(runDir).map((name) => path.join(runDir, name));
    await removeTree(runDir);
    const newElsewhere = watched.flatMap((dir) => [...nixdiskEntries(dir)].filter((name) => !before.get(dir)!.has(name)).map((name) => path.join(dir, name)));
    const problems: string[] = [];
    if (leftInRunDir.length > 0) problems.push(`the tests left these in their TMPDIR (now removed):\n  ${leftInRunDir.join('\n  ')}`);
    if (newElsewhere.length > 0) {
      const message = `new nixdisk-* entries outside TMPDIR since the run began:\n  ${newElsewhere.join('\n  ')}`;
      if (process.env.CI) problems.push(message);
      else console.warn(`tmp-guard: ${message}\n(not counted outside CI: other runs on this machine may have made them)`);
    }
    if (problems.length > 0) throw new Error(`tmp-guard: ${problems.join('\n')}`);
  };
}
