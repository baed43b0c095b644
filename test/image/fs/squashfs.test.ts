import { squashfs } from '../../../src/image/fs/squashfs.js';
import { runTool } from '../../../src/tools.js';
import { filesystemConformance } from './conformance.js';

/** path → uid/gid of every entry, from unsquashfs' numeric long listing. */
async function squashfsOwners(image: string): Promise<Record<string, string>> {
  const { stdout } = await runTool('unsquashfs', ['-lln', image]);
  const owners: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const match = /^\S{10} (\d+)\/(\d+)\s+\S+ \S+ \S+ squashfs-root(\/.*?)(?: -> .*)?$/.exec(line);
    if (match) owners[match[3]!] = `${match[1]}:${match[2]}`;
  }
  return owners;
}

filesystemConformance({ fs: squashfs, label: '', uuid: null, byteIdentical: true, sizeStep: 4096, owners: squashfsOwners });
