import { open } from 'node:fs/promises';

/** A sparse raw disk of `diskBytes` at `file` (which must not exist) holding `writes` ([offset, bytes]) and zeros elsewhere. */
export async function writeRawDisk(file: string, diskBytes: number, writes: readonly (readonly [number, Buffer])[]): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.truncate(diskBytes);
    for (const [at, bytes] of writes) await handle.write(bytes, 0, bytes.length, at);
  } finally {
    await handle.close();
  }
}
