/**
 * Routing what a boot loader installed (BootInstallation, src/image/boot/bootloader.ts)
 * to where it belongs: each file of its tree into the filesystem mounted at its path
 * (FAT ESP/BOOT, or the root), each disk write into the bytes outside every filesystem.
 */
import { lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { DiskWrite, ImageMount } from '../boot/bootloader.js';
import type { ImagePiece } from '../plan.js';
import { runTool } from '../../tools.js';

/** The folder of `treeDir` each non-root mount reads (`<treeDir>/boot` for `/boot`); pure. */
export function mountSourceDirs(treeDir: string, mounts: readonly ImageMount[]): Map<string, string> {
  return new Map(mounts.filter((m) => m.mountPoint !== '/').map((m) => [m.mountPoint, path.join(treeDir, m.mountPoint)]));
}

/**
 * Copies the part of `treeDir` that belongs to the root filesystem into the staged root:
 * everything but the folders of the other mounts. A file the stage holds already is an
 * error (a loader must not replace the system's files); folders merge.
 */
export async function copyRootPart(treeDir: string, mounts: readonly ImageMount[], rootDir: string): Promise<void> {
  const elsewhere = new Set(mountSourceDirs(treeDir, mounts).values());
  const walk = async (from: string, to: string): Promise<void> => {
    for (const name of (await readdir(from)).sort()) {
      const source = path.join(from, name);
      if (elsewhere.has(source)) continue;
      const target = path.join(to, name);
      const info = await lstat(source);
      const existing = await lstat(target).catch(() => null);
      if (info.isDirectory()) {
        if (existing && !existing.isDirectory()) throw new Error(`the boot loader installs the folder ${path.relative(rootDir, target)}, where the image has a file`);
        if (!existing) await mkdir(target, { mode: info.mode & 0o7777 });
        await walk(source, target);
      } else {
        if (existing) throw new Error(`the boot loader installs /${path.relative(rootDir, target)}, which the image has already`);
        await runTool('cp', ['-P', '--preserve=mode,timestamps', '--no-target-directory', source, target]);
      }
    }
  };
  await walk(treeDir, rootDir);
}

/**
 * The writes that fall in `piece`, laid over `base` (the piece's own bytes, e.g. the
 * partition table) into one buffer; null when none does. A write must lie wholly
 * inside a piece that holds no filesystem: the head, a gap, the BIOS boot partition.
 */
export function overlayWrites(piece: ImagePiece, base: Buffer | null, writes: readonly DiskWrite[]): Buffer | null {
  const start = piece.offsetBytes;
  const end = start + piece.sizeBytes;
  const inside = writes.filter((w) => w.offsetBytes < end && w.offsetBytes + w.bytes.length > start);
  if (inside.length === 0) return base;
  const holdsFilesystem = piece.kind === 'tail' || (piece.kind === 'partition' && piece.role !== 'bios-boot');
  for (const write of inside) {
    if (holdsFilesystem || write.offsetBytes < start || write.offsetBytes + write.bytes.length > end) {
      throw new Error(
        `the boot loader writes ${write.bytes.length} bytes at disk offset ${write.offsetBytes}, ` +
          `across ${piece.kind === 'partition' ? `partition ${piece.partitionNumber} (${piece.role})` : `the ${piece.kind} of the disk`}`,
      );
    }
  }
  const length = Math.max(base?.length ?? 0, ...inside.map((w) => w.offsetBytes - start + w.bytes.length));
  const bytes = Buffer.alloc(length);
  base?.copy(bytes);
  for (const write of inside) write.bytes.copy(bytes, write.offsetBytes - start);
  return bytes;
}

/** Every write lands in some piece; pure. */
export function assertWritesPlaced(pieces: readonly ImagePiece[], writes: readonly DiskWrite[]): void {
  for (const write of writes) {
    const placed = pieces.some((p) => write.offsetBytes >= p.offsetBytes && write.offsetBytes + write.bytes.length <= p.offsetBytes + p.sizeBytes);
    if (!placed) throw new Error(`the boot loader writes ${write.bytes.length} bytes at disk offset ${write.offsetBytes}, across two parts of the disk or beyond its end`);
  }
}
