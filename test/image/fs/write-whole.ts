/** A filesystem written into its own output file, as a raw image without a partition table is. */
import { identityMap } from '../../../src/image/disk/host-map.js';
import type { Filesystem, FilesystemRequest } from '../../../src/image/fs/filesystem.js';

/** Writes `request.output` whole (ext4 fills what it planned); resolves with the size written. */
export async function writeWhole(fs: Filesystem, request: FilesystemRequest): Promise<number> {
  const pending = await fs.write(request);
  await pending.fill({ path: pending.file, map: identityMap(pending.sizeBytes) });
  return pending.sizeBytes;
}
