/**
 * F2FS by `mkfs.f2fs` then `sload.f2fs -f` (f2fs-tools 1.15), no mount. mkfs makes the
 * root directory root-owned (`-R 0:0`, its default) and sload, without `-P`, records
 * every copied entry as uid/gid 0. Hard links become separate copies.
 *
 * Deterministic builds are byte-identical: `mkfs.f2fs -r` seeds its checkpoint
 * randomness with 0, `-T` and `sload.f2fs -T` pin every stored time to the epoch, `-U`
 * pins the UUID.
 *
 * F2FS reserves several segments for cleaning, so even a small tree needs a volume of
 * tens of MiB; the smallest size is found by real builds. No userspace tool here
 * reads files back out of F2FS (dump.f2fs dumps one inode at a time): there is no
 * `extract`.
 */
import { runTool, ToolFailedError } from '../../tools.js';
import {
  assertEpochInRange,
  assertLabelFits,
  minimalBySearch,
  createSparseFile,
  roughTreeBytes,
  writingOutput,
} from './common.js';
import { writtenWhole } from './whole-file.js';
import { DEFAULT_DETERMINISTIC_UUID } from './ext4.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild } from './filesystem.js';

/** mkfs refusing the size, or sload running out of blocks or of segments to move its current segments to. */
const TOO_SMALL = /not sufficient for F2FS|Can't find free block|No space left|\(move_one_curseg_info:\d+\) ret == 0/i;
/** Below this mkfs.f2fs 1.15 always answers "Device size is not sufficient". */
const FLOOR_BYTES = 40 * 1024 * 1024;

/** mkfs.f2fs and sload.f2fs arguments; pure. */
export function f2fsCommands(build: Pick<FilesystemBuild, 'sourceDir' | 'label' | 'uuid' | 'deterministic' | 'epoch' | 'output'>): {
  mkfs: string[];
  sload: string[];
} {
  const uuid = build.uuid ?? (build.deterministic ? DEFAULT_DETERMINISTIC_UUID : null);
  const time = build.deterministic ? ['-T', String(build.epoch)] : [];
  return {
    // Not -q: mkfs.f2fs then prints no reason when it fails.
    mkfs: [
      '-f',
      '-R', '0:0',
      ...(build.deterministic ? ['-r'] : []),
      ...time,
      ...(uuid ? ['-U', uuid] : []),
      ...(build.label ? ['-l', build.label] : []),
      build.output,
    ],
    sload: ['-f', build.sourceDir, ...time, build.output],
  };
}

async function create(build: FilesystemBuild): Promise<void> {
  assertLabelFits('f2fs', build.label);
  if (build.deterministic) assertEpochInRange(build.epoch);
  const { mkfs, sload } = f2fsCommands(build);
  await writingOutput(build, async () => {
    await createSparseFile(build.output, build.sizeBytes);
    try {
      await runTool('mkfs.f2fs', mkfs);
      await runTool('sload.f2fs', sload);
    } catch (error) {
      if (error instanceof ToolFailedError && TOO_SMALL.test(error.output)) {
        throw new FilesystemTooSmallError('f2fs', build.sizeBytes, TOO_SMALL.exec(error.output)![0]);
      }
      throw error;
    }
  });
}

const createMinimal = minimalBySearch(create, (entries) => Math.max(FLOOR_BYTES, Math.ceil(roughTreeBytes(entries) * 1.3) + FLOOR_BYTES), FLOOR_BYTES);

export const f2fs: Filesystem = {
  fsType: 'f2fs',
  tools: [
    { command: 'mkfs.f2fs', debianPackage: 'f2fs-tools' },
    { command: 'sload.f2fs', debianPackage: 'f2fs-tools' },
    { command: 'fsck.f2fs', debianPackage: 'f2fs-tools' },
  ],
  ...writtenWhole({ create, createMinimal }),
  check: async (file) => {
    const { stdout, stderr } = await runTool('fsck.f2fs', ['--dry-run', file]);
    return stdout + stderr;
  },
};
