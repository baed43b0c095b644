/** Finding what a tool's sparse file holds: filefrag's extents, the fallback without them, and the zero scan. */
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filefragExtents, nonzeroRanges, storedRanges } from '../../../src/image/disk/sparse-copy.js';

const FILEFRAG_OUTPUT = `Filesystem type is: ef53
File size of x.img is 67108864 (131072 blocks of 512 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..    2055:  106708992.. 106711047:   2056:
   1:     2056..    2063:   93389824..  93389831:      8:  106711048:
   2:    65536..    65543:   93389832..  93389839:      8:             last,eof
x.img: 3 extents found
`;

describe('filefragExtents', () => {
  it('reads the extents in 512-byte units and joins adjacent ones', () => {
    expect(filefragExtents(FILEFRAG_OUTPUT)).toEqual([
      [0, 2064 * 512],
      [65536 * 512, 65544 * 512],
    ]);
  });
  it('leaves out unwritten extents, which read as zeros (the journal mke2fs reserves)', () => {
    const output = `File size of t.fs is 1258291200 (2457600 blocks of 512 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:        0..    1215:  453001216.. 453002431:   1216:
   1:  1048576.. 1048583:  453050368.. 453050375:      8:  453296128:
   2:  1048584.. 1114111:  453050376.. 453115903:  65528:             unwritten
   3:  1310720.. 1310735:  453115904.. 453115919:     16:
   4:  2457472.. 2457599:  452989056.. 452989183:    128:  453246848: last,unwritten,eof
t.fs: 5 extents found
`;
    expect(filefragExtents(output)).toEqual([
      [0, 1216 * 512],
      [1048576 * 512, 1048584 * 512],
      [1310720 * 512, 1310736 * 512],
    ]);
  });
  it('no extents: a file of holes', () => {
    expect(filefragExtents('Filesystem type is: ef53\nx.img: 0 extents found\n')).toEqual([]);
  });
});

describe('storedRanges and nonzeroRanges on real files', () => {
  const MiB = 1 << 20;
  const dirs: string[] = [];
  beforeAll(async () => {
    dirs.push(await mkdtemp(join(tmpdir(), 'nixdisk-sparse-')));
    // tmpfs has no FIEMAP: the fallback path.
    dirs.push(await mkdtemp(join('/dev/shm', 'nixdisk-sparse-')));
  });
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it.each([0, 1])('finds the written blocks of a 64 MiB sparse file, not the zeros written among them (directory %i)', async (which) => {
    const file = join(dirs[which]!, 'tool.img');
    const handle = await open(file, 'wx');
    await handle.truncate(64 * MiB);
    await handle.write(Buffer.alloc(4096, 7), 0, 4096, 8192);
    await handle.write(Buffer.alloc(3 * 4096), 0, 3 * 4096, 40 * MiB); // stored, but zeros
    await handle.write(Buffer.from('end'), 0, 3, 64 * MiB - 3);
    await handle.close();
    const stored = await storedRanges(file, [[0, 64 * MiB]]);
    // Wherever FIEMAP answers, the holes are not read at all.
    const storedBytes = stored.reduce((sum, [start, end]) => sum + end - start, 0);
    if (which === 0) expect(storedBytes).toBeLessThan(MiB);
    const fd = openSync(file, 'r');
    try {
      expect(await nonzeroRanges(fd, stored)).toEqual([
        [8192, 8192 + 4096],
        [64 * MiB - 4096, 64 * MiB],
      ]);
    } finally {
      closeSync(fd);
    }
  });
});
