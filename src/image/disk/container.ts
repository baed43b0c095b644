/**
 * The disk image containers nixdisk writes in one pass (qcow2, VDI, VHD): each lays out
 * its tables before any data, from the guest byte ranges that will hold data, so every
 * allocated block has its place in the file before the filesystem writers fill it
 * through the HostMap, and each block is written once.
 */
import { open } from 'node:fs/promises';
import type { ByteRange, HostMap } from './host-map.js';

export interface ContainerLayout {
  /** Length of the image file. */
  fileBytes: number;
  /**
   * Where each allocated guest block run lies in the file: block-aligned, merged maximal
   * runs, sorted by guest offset. A run that holds the last block of a disk whose size is
   * not a block multiple reaches past the disk's end; guests never write past the disk's
   * end, so those bytes stay zero.
   */
  map: HostMap;
  /** Every metadata write (headers, tables, footers), in file order. */
  metadata: { offset: number; bytes: Buffer }[];
}

export interface UnitRuns {
  /** Sorted, disjoint, non-adjacent [starts[i], ends[i]) runs of block (cluster) indexes. */
  starts: number[];
  ends: number[];
  /** How many blocks the runs hold. */
  units: number;
}

/**
 * The union of the `unitBytes` blocks the ranges touch. Sorting the starts and the ends
 * apart and sweeping them keeps the work proportional to the ranges, not to the disk,
 * and lets the typed arrays sort natively. `format` names the container in errors.
 */
export function allocatedUnitRuns(format: string, unitBytes: number, diskBytes: number, allocated: Iterable<ByteRange>): UnitRuns {
  const startList: number[] = [];
  const endList: number[] = [];
  for (const [start, end] of allocated) {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) throw new Error(`${format}: range [${start}, ${end}) has a bound that is not a safe integer`);
    if (start < 0) throw new Error(`${format}: range [${start}, ${end}) starts before the disk`);
    if (start > end) throw new Error(`${format}: range [${start}, ${end}) ends before it starts`);
    if (end > diskBytes) throw new Error(`${format}: range [${start}, ${end}) ends past the disk's ${diskBytes} bytes`);
    if (start === end) continue;
    startList.push(Math.floor(start / unitBytes));
    endList.push(Math.ceil(end / unitBytes));
  }
  const starts = Float64Array.from(startList).sort();
  const ends = Float64Array.from(endList).sort();

  const runs: UnitRuns = { starts: [], ends: [], units: 0 };
  let openRanges = 0;
  let nextEnd = 0;
  const closeRun = (end: number): void => {
    runs.ends.push(end);
    runs.units += end - runs.starts[runs.starts.length - 1]!;
  };
  for (const start of starts) {
    // Ends sort after equal starts, so runs that only touch merge into one.
    while (ends[nextEnd]! < start) {
      openRanges--;
      if (openRanges === 0) closeRun(ends[nextEnd]!);
      nextEnd++;
    }
    if (openRanges === 0) runs.starts.push(start);
    openRanges++;
  }
  if (ends.length > 0) closeRun(ends[ends.length - 1]!);
  return runs;
}

/**
 * Creates `path` (must not exist), writes layout.metadata, and sets its length to
 * layout.fileBytes; the data blocks stay holes until other writers fill them through
 * layout.map.
 */
export async function createContainerFile(path: string, layout: ContainerLayout): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.truncate(layout.fileBytes);
    for (const { offset, bytes } of layout.metadata) await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}

/** Seed and time for the identities a format carries (VDI UUIDs, the VHD UUID and timestamp); null: random ones and the current time. */
export type ImageIdentity = { seed: string; unixTime: number } | null;

/** `count` blocks of `unitBytes` for every allocated run, placed one after another from file offset `firstHost`, each `strideBytes` apart (a block plus what precedes it). */
export function blockMap(runs: UnitRuns, unitBytes: number, firstHost: number, strideBytes: number, headBytes: number): { map: HostMap; hostOf: Map<number, number> } {
  const map: { guest: number; host: number; length: number }[] = [];
  const hostOf = new Map<number, number>();
  let host = firstHost;
  for (let run = 0; run < runs.starts.length; run++) {
    for (let unit = runs.starts[run]!; unit < runs.ends[run]!; unit++, host += strideBytes) {
      hostOf.set(unit, host);
      const data = { guest: unit * unitBytes, host: host + headBytes, length: unitBytes };
      const last = map.at(-1);
      if (last && last.guest + last.length === data.guest && last.host + last.length === data.host) last.length += unitBytes;
      else map.push(data);
    }
  }
  return { map, hostOf };
}
