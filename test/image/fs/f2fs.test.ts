import { execa } from 'execa';
import { f2fs } from '../../../src/image/fs/f2fs.js';
import { toolSearchPath } from '../../../src/tools.js';
import { filesystemConformance } from './conformance.js';

/** nid:name → uid:gid of every node inode, read with dump.f2fs (there is no extraction for F2FS). */
async function f2fsOwners(image: string): Promise<Record<string, string>> {
  const owners: Record<string, string> = {};
  // A fresh F2FS hands out node ids from 3 up; the sample tree has fewer than 40 entries.
  for (let nid = 3; nid < 64; nid++) {
    const { stdout, exitCode } = await execa('dump.f2fs', ['-i', String(nid), image], {
      env: { PATH: toolSearchPath(process.env.PATH) },
      reject: false,
      input: 'n\n', // it offers to dump regular files into ./lost_found
      timeout: 10_000,
    });
    const uid = /^i_uid\s+\[0x\s*[0-9a-f]+ : (\d+)\]/m.exec(stdout);
    const gid = /^i_gid\s+\[0x\s*[0-9a-f]+ : (\d+)\]/m.exec(stdout);
    const name = /^i_name\s+\[(.*)\]/m.exec(stdout);
    if (exitCode !== 0 || !uid || !gid || !name) continue;
    owners[`${nid}:${name[1]}`] = `${uid[1]}:${gid[1]}`;
  }
  return owners;
}

filesystemConformance({
  fs: f2fs,
  label: 'nixos',
  uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  blkidUuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  byteIdentical: true,
  sizeStep: 4096,
  owners: f2fsOwners,
});
