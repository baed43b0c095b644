/**
 * Where a disk's bytes lie in the file that holds it. A raw image holds guest byte n at
 * file byte n; a qcow2 image holds only the clusters that have data, one after another
 * behind its own tables. Writers that fill the disk (the ext4 populate, the data-copy
 * thread, the partition pieces) write guest bytes through a HostMap, so the same code
 * writes either file in one pass.
 */

/** `length` guest bytes from `guest` on, stored at file offset `host` on. */
export interface HostRun {
  guest: number;
  host: number;
  length: number;
}

/** Runs sorted by guest offset, not overlapping; guest bytes outside every run are never written (they read as zeros). */
export type HostMap = readonly HostRun[];

/** A guest byte range [start, end). */
export type ByteRange = readonly [start: number, end: number];

/** A file that holds a disk, and where the disk's bytes lie in it. */
export interface MappedTarget {
  path: string;
  map: HostMap;
}

/** A raw image (or a filesystem's own file): byte n at n. */
export function identityMap(bytes: number): HostMap {
  return bytes > 0 ? [{ guest: 0, host: 0, length: bytes }] : [];
}

/** The part of `map` from `offset` on, `length` bytes, as seen from `offset`: a partition's view of the disk's map. */
export function windowOf(map: HostMap, offset: number, length: number): HostMap {
  const window: HostRun[] = [];
  for (const run of map) {
    const start = Math.max(run.guest, offset);
    const end = Math.min(run.guest + run.length, offset + length);
    if (start < end) window.push({ guest: start - offset, host: run.host + (start - run.guest), length: end - start });
  }
  return window;
}

/** Sorted, merged copies of `ranges`, each shifted by `offset`; empty ranges dropped. */
export function mergedRanges(ranges: Iterable<ByteRange>, offset = 0): ByteRange[] {
  const sorted = [...ranges].filter(([start, end]) => end > start).sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last && start + offset <= last[1]) last[1] = Math.max(last[1], end + offset);
    else merged.push([start + offset, end + offset]);
  }
  return merged;
}

/**
 * Writes `length` bytes of `bytes` (from `from`) at guest offset `guest` into the file
 * open as `fd`, through `map`. It runs on the data-copy thread too, from its source
 * text, so it uses nothing but its arguments.
 */
export function writeMapped(
  files: { writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number },
  fd: number,
  map: readonly HostRun[],
  bytes: Uint8Array,
  from: number,
  length: number,
  guest: number,
): void {
  while (length > 0) {
    let low = 0;
    let high = map.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (map[middle]!.guest <= guest) low = middle;
      else high = middle - 1;
    }
    const run = map[low];
    if (run === undefined || guest < run.guest || guest >= run.guest + run.length) {
      throw new Error(`internal: guest byte ${guest} lies outside the space allocated in the image file`);
    }
    const count = Math.min(length, run.guest + run.length - guest);
    for (let done = 0; done < count; ) {
      done += files.writeSync(fd, bytes, from + done, count - done, run.host + (guest - run.guest) + done);
    }
    from += count;
    length -= count;
    guest += count;
  }
}

/** The bytes in both of two sorted, merged range lists. */
export function intersectRanges(a: readonly ByteRange[], b: readonly ByteRange[]): ByteRange[] {
  const both: ByteRange[] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    const start = Math.max(a[i]![0], b[j]![0]);
    const end = Math.min(a[i]![1], b[j]![1]);
    if (start < end) both.push([start, end]);
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return both;
}
