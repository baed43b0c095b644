/**
 * XFS by `mkfs.xfs -p protofile` (xfsprogs 6.1, which cannot copy a directory by
 * itself). The prototype file lists every entry with uid/gid 0 and its mode; file
 * contents are read through a scratch directory of symlinks with plain names, since the
 * prototype format splits on whitespace.
 *
 * Limits of the prototype format, refused with an error naming the entry: names or
 * symlink targets containing whitespace, the sticky bit, special files. Hard links
 * become separate copies (the format cannot say "same inode").
 *
 * xfsprogs 6.1 refuses filesystems under 300 MB, so that is the smallest size.
 * No userspace tool here reads files back out of XFS: there is no `extract`.
 *
 * Deterministic builds are byte-identical: `-m uuid=` pins the UUID and mkfs.xfs runs
 * under a fixed libfaketime clock (every inode time it stamps is the epoch); nothing
 * else in mkfs.xfs 6.1 is random.
 */
import { symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { requireTool, runTool, ToolFailedError } from '../../tools.js';
import {
  assertEpochInRange,
  assertLabelFits,
  minimalBySearch,
  createSparseFile,
  roughTreeBytes,
  withScratchDir,
  writingOutput,
} from './common.js';
import { writtenWhole } from './whole-file.js';
import { scanTree, type TreeEntry } from './tree.js';
import { DEFAULT_DETERMINISTIC_UUID } from './ext4.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './filesystem.js';

/** mkfs.xfs 6.1: "Filesystem must be larger than 300MB." */
export const XFS_MINIMUM_BYTES = 300 * 1024 * 1024;
const TOO_SMALL = /must be larger than|No space left|too small|cannot allocate space/i;

function protoMode(entry: TreeEntry): string {
  const type = { file: '-', directory: 'd', symlink: 'l', other: '?' }[entry.kind];
  const setuid = entry.mode & 0o4000 ? 'u' : '-';
  const setgid = entry.mode & 0o2000 ? 'g' : '-';
  return `${type}${setuid}${setgid}${(entry.mode & 0o777).toString(8).padStart(3, '0')}`;
}

function protoProblem(entry: TreeEntry): string | null {
  const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
  if (/\s/.test(name) || name === '$') return `XFS prototype files cannot hold the name of ${JSON.stringify(entry.path)}`;
  if (entry.kind === 'other') return `XFS prototype files cannot hold the special file ${entry.path}`;
  if (entry.mode & 0o1000) return `XFS prototype files cannot hold the sticky bit of ${entry.path}`;
  if (entry.kind === 'symlink' && (/\s/.test(entry.linkTarget!) || entry.linkTarget === '')) {
    return `XFS prototype files cannot hold the symlink target of ${entry.path}`;
  }
  return null;
}

/**
 * The prototype file for `entries` (parents before children, as scanTree gives them);
 * `contentPath(i)` names the file mkfs.xfs reads the i-th entry's data from. Pure.
 */
export function xfsPrototype(entries: readonly TreeEntry[], contentPath: (index: number) => string): string {
  const lines = ['/dev/null', '0 0', 'd--755 0 0'];
  const open: string[] = [];
  const depthOf = (path: string) => path.split('/').length;
  entries.forEach((entry, index) => {
    const problem = protoProblem(entry);
    if (problem) throw new Error(problem);
    const depth = depthOf(entry.path);
    while (open.length >= depth) {
      open.pop();
      lines.push('$');
    }
    const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
    const head = `${name} ${protoMode(entry)} 0 0`;
    if (entry.kind === 'directory') {
      lines.push(head);
      open.push(entry.path);
    } else if (entry.kind === 'symlink') lines.push(`${head} ${entry.linkTarget}`);
    else lines.push(`${head} ${contentPath(index)}`);
  });
  for (let i = 0; i <= open.length; i++) lines.push('$');
  return lines.join('\n') + '\n';
}

/** libfaketime's fixed-clock notation for `epoch`, read in UTC; pure. */
export function faketimeClock(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

async function create(build: FilesystemBuild): Promise<void> {
  assertLabelFits('xfs', build.label);
  if (build.deterministic) assertEpochInRange(build.epoch);
  const entries = await scanTree(build.sourceDir);
  const uuid = build.uuid ?? (build.deterministic ? DEFAULT_DETERMINISTIC_UUID : null);
  await writingOutput(build, () =>
    withScratchDir(dirname(build.output), async (scratch) => {
      const prototype = xfsPrototype(entries, (index) => join(scratch, `c${index}`));
      for (const [index, entry] of entries.entries()) {
        if (entry.kind === 'file') await symlink(join(build.sourceDir, entry.path), join(scratch, `c${index}`));
      }
      await writeFile(join(scratch, 'prototype'), prototype);
      await createSparseFile(build.output, build.sizeBytes);
      const mkfs = [
        'mkfs.xfs',
        '-q',
        ...(build.label ? ['-L', build.label] : []),
        ...(uuid ? ['-m', `uuid=${uuid}`] : []),
        '-p', join(scratch, 'prototype'),
        build.output,
      ];
      try {
        if (build.deterministic) {
          await requireTool('mkfs.xfs');
          await runTool('faketime', ['-f', faketimeClock(build.epoch), ...mkfs], { env: { TZ: 'UTC' } });
        } else {
          await runTool(mkfs[0]!, mkfs.slice(1));
        }
      } catch (error) {
        if (error instanceof ToolFailedError && TOO_SMALL.test(error.output)) {
          throw new FilesystemTooSmallError('xfs', build.sizeBytes, error.output.trim().split('\n')[0] ?? '');
        }
        throw error;
      }
    }),
  );
}

const createMinimal = minimalBySearch(create, (entries) => Math.max(XFS_MINIMUM_BYTES, Math.ceil(roughTreeBytes(entries) * 1.2)), XFS_MINIMUM_BYTES);

export const xfs: Filesystem = {
  fsType: 'xfs',
  tools: [
    { command: 'mkfs.xfs', debianPackage: 'xfsprogs' },
    { command: 'xfs_repair', debianPackage: 'xfsprogs' },
    { command: 'faketime', debianPackage: 'faketime' },
  ],
  ...writtenWhole({ create, createMinimal }),
  check: async (file) => {
    const { stdout, stderr } = await runTool('xfs_repair', ['-n', '-f', file]);
    return stdout + stderr;
  },
};
