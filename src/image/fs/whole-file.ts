/**
 * The filesystems whose tool writes the whole file (every fsType but ext4, which
 * nixdisk fills itself): sized by real builds, and handed to the disk as a file to copy.
 */
import { join } from 'node:path';
import { MiB } from '../../units.js';
import { filePart } from '../disk/write-disk.js';
import { fittedSize, roundUpTo, withScratchDir } from './common.js';
import { FilesystemTooSmallError, type Filesystem, type FilesystemBuild, type Fit, type PendingFilesystem } from './filesystem.js';

/** A filesystem its tool writes whole into a file, at a given size or at the smallest. */
export interface WholeFileWriter {
  /** Writes `build.output` at `build.sizeBytes`; throws FilesystemTooSmallError when the tree does not fit. */
  create(build: FilesystemBuild): Promise<void>;
  /** Writes `build.output` at the smallest size at which the tree fits; resolves with that size. */
  createMinimal(build: Omit<FilesystemBuild, 'sizeBytes'>): Promise<number>;
}

/**
 * `size` and `write` for a WholeFileWriter. Sized by the smallest real build, in a
 * scratch file, plus the spare bytes: for these tools free space grows about one for one
 * with the size (ext4 counts its free space exactly instead; read-only formats just carry
 * the spare bytes as padding).
 */
export function writtenWhole(writer: WholeFileWriter): Pick<Filesystem, 'size' | 'write'> {
  const neededBytes = async (build: Omit<FilesystemBuild, 'output' | 'sizeBytes'>, fit: Fit) => {
    const minimum = await withScratchDir(fit.workDir, (dir) => writer.createMinimal({ ...build, output: join(dir, 'measure.img') }));
    return minimum + roundUpTo(fit.spareBytes, 4096);
  };
  return {
    size: async (build, fit) => fittedSize(fit, await neededBytes(build, fit)),
    write: async (request) => {
      const fit = request.sizeBytes;
      if (typeof fit === 'number') {
        await writer.create({ ...request, sizeBytes: fit });
        return wholeFilePending(request.output, fit);
      }
      // The smallest size itself: the smallest build is the filesystem, not a measurement.
      if (fit.spareBytes === 0 && !fit.sizeFor) return wholeFilePending(request.output, await writer.createMinimal(request));
      let needed = await neededBytes(request, fit);
      // The measurement predicts from the real tool; should the final layout need a few
      // blocks more, grow by a MiB rather than fail.
      for (let attempt = 0; ; attempt++) {
        const sizeBytes = fittedSize(fit, needed);
        try {
          await writer.create({ ...request, sizeBytes });
          return wholeFilePending(request.output, sizeBytes);
        } catch (error) {
          if (!(error instanceof FilesystemTooSmallError) || attempt === 2) throw error;
          needed = sizeBytes + MiB;
        }
      }
    },
  };
}

/** A filesystem its tool wrote whole into `file`: filling copies the file's data, or does nothing when the target is the file. */
export function wholeFilePending(file: string, sizeBytes: number): PendingFilesystem {
  const part = filePart(0, sizeBytes, file);
  return {
    file,
    sizeBytes,
    ranges: part.ranges,
    fill: async (target) => {
      if (target.path !== file) await part.writeTo(target);
    },
  };
}
