/**
 * Finding and copying the parts of a file that hold data. Tools (mke2fs, mkfs.vfat, the
 * other filesystems' makers) write into sparse files; the disk image takes only their
 * blocks that are not all zeros, so a qcow2 allocates no cluster for what reads as zeros
 * anyway, as `qemu-img convert` would not.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { runTool, ToolFailedError } from '../../tools.js';
import { intersectRanges, mergedRanges, writeMapped, type ByteRange, type HostMap } from './host-map.js';

/** filefrag's unit, asked for with -b: a sector, so no extent is rounded. */
const FILEFRAG_UNIT = 512;

/**
 * The parts of `ranges` of `file` that the host filesystem stores, by FIEMAP (filefrag):
 * reading a hole costs as much as reading data here (256 MiB of holes took 0.13-0.9 s),
 * and a tool's file is mostly holes. Where FIEMAP is not supported (tmpfs), all of
 * `ranges`, to be read.
 */
export async function storedRanges(file: string, ranges: readonly ByteRange[]): Promise<ByteRange[]> {
  let stdout: string;
  try {
    ({ stdout } = await runTool('filefrag', ['-e', `-b${FILEFRAG_UNIT}`, file]));
  } catch (error) {
    if (error instanceof ToolFailedError) return [...ranges];
    throw error;
  }
  return intersectRanges(mergedRanges(ranges), filefragExtents(stdout));
}

/** The parts of `ranges` of `file` that hold anything but zeros: what it stores, scanned. */
export async function dataRanges(file: string, ranges: readonly ByteRange[]): Promise<ByteRange[]> {
  const stored = await storedRanges(file, ranges);
  const fd = openSync(file, 'r');
  try {
    return await nonzeroRanges(fd, stored);
  } finally {
    closeSync(fd);
  }
}

/**
 * The byte ranges in `filefrag -e -b512` output that can hold data; pure. Extents flagged
 * unwritten (space fallocate reserved, as mke2fs reserves the journal) read as zeros, so
 * they are left out rather than read to find that (32 MiB of journal in a 1 GiB ext4).
 */
export function filefragExtents(output: string): ByteRange[] {
  const extents: ByteRange[] = [];
  for (const match of output.matchAll(/^\s*\d+:\s*(\d+)\.\.\s*(\d+):.*$/gm)) {
    if (/\bunwritten\b/.test(match[0])) continue;
    extents.push([Number(match[1]) * FILEFRAG_UNIT, (Number(match[2]) + 1) * FILEFRAG_UNIT]);
  }
  return mergedRanges(extents);
}

const CHUNK_BYTES = 1 << 20;
/** Between event-loop turns (signals, progress), at most this much is read. */
const SLICE_BYTES = 64 << 20;
const ZERO_SCAN_BLOCK = 4096;
const ZEROS = Buffer.alloc(ZERO_SCAN_BLOCK);

/** The ZERO_SCAN_BLOCK-aligned pieces of `ranges` (block-aligned themselves) in file `fd` that hold anything but zeros, merged. */
export async function nonzeroRanges(fd: number, ranges: readonly ByteRange[]): Promise<ByteRange[]> {
  const found: [number, number][] = [];
  await eachChunk(fd, ranges, (chunk, at) => {
    for (let block = 0; block < chunk.length; block += ZERO_SCAN_BLOCK) {
      const blockEnd = Math.min(chunk.length, block + ZERO_SCAN_BLOCK);
      if (chunk.compare(ZEROS, 0, blockEnd - block, block, blockEnd) === 0) continue;
      const last = found.at(-1);
      if (last && last[1] === at + block) last[1] = at + blockEnd;
      else found.push([at + block, at + blockEnd]);
    }
  });
  return found;
}

/** Copies `ranges` of file `fd` to the same guest offsets of the file open as `targetFd`, through `map`. */
export async function copyRanges(fd: number, ranges: readonly ByteRange[], targetFd: number, map: HostMap): Promise<void> {
  await eachChunk(fd, ranges, (chunk, at) => writeMapped({ writeSync }, targetFd, map, chunk, 0, chunk.length, at));
}

/** Reads `ranges` of `fd` a chunk at a time, handing each to `use` with its offset, and lets the event loop run now and then. */
async function eachChunk(fd: number, ranges: readonly ByteRange[], use: (chunk: Buffer, at: number) => void): Promise<void> {
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let sinceTurn = 0;
  for (const [start, end] of ranges) {
    for (let at = start; at < end; at += CHUNK_BYTES) {
      const length = Math.min(CHUNK_BYTES, end - at);
      readFully(fd, buffer, length, at);
      use(buffer.subarray(0, length), at);
      if ((sinceTurn += length) >= SLICE_BYTES) {
        sinceTurn = 0;
        await nextTurn();
      }
    }
  }
}

function readFully(fd: number, buffer: Buffer, length: number, position: number): void {
  for (let done = 0; done < length; ) {
    const got = readSync(fd, buffer, done, length - done, position + done);
    // Past the end of a file that is shorter than the disk part it fills: zeros, as qemu-img reads it.
    if (got === 0) {
      buffer.fill(0, done, length);
      return;
    }
    done += got;
  }
}
