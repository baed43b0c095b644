/**
 * The ext4 encoders, byte by byte, and the checksums against values e2fsprogs computes:
 * an image nixdisk populated is read back by debugfs and e2fsck in ext4.test.ts; these
 * pin the arithmetic underneath.
 */
import { describe, expect, it } from 'vitest';
import { crc32c, crc32cOfU32 } from '../../../../src/image/fs/ext4/crc32c.js';
import { groupDescriptorChecksum, hasSuperblockBackup, updatedSuperblock } from '../../../../src/image/fs/ext4/geometry.js';
import {
  directoryBlockCount,
  encodeDirectory,
  encodeExtentTree,
  encodeInode,
  extentTreeBlockCount,
  FILE_TYPE,
  inodeSeed,
  type DirectoryEntry,
} from '../../../../src/image/fs/ext4/structures.js';

describe('crc32c', () => {
  it.each([
    ['the standard check value of "123456789"', Buffer.from('123456789'), 0xe3069283],
    ['an empty message', Buffer.alloc(0), 0],
    ['32 zero bytes (RFC 3720 B.4)', Buffer.alloc(32), 0x8a9136aa],
    ['32 bytes of 0xff (RFC 3720 B.4)', Buffer.alloc(32, 0xff), 0x62a8ab43],
  ])('%s', (_name, bytes, expected) => {
    expect((~crc32c(0xffffffff, bytes)) >>> 0).toBe(expected);
  });

  it('chains: two parts give the checksum of the whole', () => {
    const whole = Buffer.from('nixdisk writes ext4');
    expect(crc32c(crc32c(7, whole.subarray(0, 5)), whole.subarray(5))).toBe(crc32c(7, whole));
  });

  it('agrees with the bit-by-bit definition at every length and offset around its 8-byte steps', () => {
    const bitwise = (seed: number, bytes: Uint8Array) => {
      let crc = seed >>> 0;
      for (const byte of bytes) {
        crc ^= byte;
        for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
      }
      return crc >>> 0;
    };
    const bytes = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 151 + 7) & 0xff));
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= bytes.length; end++) {
        expect(crc32c(0x9e3779b9, bytes.subarray(start, end)), `bytes ${start}..${end}`).toBe(bitwise(0x9e3779b9, bytes.subarray(start, end)));
      }
    }
  });

  it('mixes a number in as its four little-endian bytes', () => {
    expect(crc32cOfU32(0x1234, 0xdeadbeef)).toBe(crc32c(0x1234, Buffer.from([0xef, 0xbe, 0xad, 0xde])));
  });
});

describe('hasSuperblockBackup', () => {
  it('is groups 0, 1 and the powers of 3, 5 and 7 with sparse_super', () => {
    const groups = Array.from({ length: 130 }, (_, group) => group).filter((group) => hasSuperblockBackup(group, true));
    expect(groups).toEqual([0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125]);
  });

  it('is every group without it', () => {
    expect([2, 4, 6].every((group) => hasSuperblockBackup(group, false))).toBe(true);
  });
});

describe('updatedSuperblock', () => {
  it('writes both halves of the free block count, the inode count and a checksum over the first 1020 bytes', () => {
    const updated = updatedSuperblock(Buffer.alloc(1024), { freeBlocks: 2 ** 32 + 5, freeInodes: 77, groupNumber: 3 });
    expect(updated.readUInt32LE(0x0c)).toBe(5);
    expect(updated.readUInt32LE(0x158)).toBe(1);
    expect(updated.readUInt32LE(0x10)).toBe(77);
    expect(updated.readUInt16LE(0x5a)).toBe(3);
    expect(updated.readUInt32LE(0x3fc)).toBe(crc32c(0xffffffff, updated.subarray(0, 0x3fc)));
  });
});

describe('groupDescriptorChecksum', () => {
  it('ignores the checksum field itself and depends on the group number', () => {
    const descriptor = Buffer.alloc(64, 0x11);
    const before = groupDescriptorChecksum(descriptor, 4, 99);
    descriptor.writeUInt16LE(0xabcd, 0x1e);
    expect(groupDescriptorChecksum(descriptor, 4, 99)).toBe(before);
    expect(groupDescriptorChecksum(descriptor, 5, 99)).not.toBe(before);
    expect(before).toBeLessThan(0x10000);
  });
});

describe('extentTreeBlockCount', () => {
  it.each([
    [0, 0],
    [4, 0],
    [5, 1],
    [340, 1],
    [341, 2],
    [1360, 4],
    // five leaves no longer fit the inode's four index slots: one index block above them
    [1361, 6],
  ])('%i extents → %i tree blocks', (extents, blocks) => expect(extentTreeBlockCount(extents, 4096)).toBe(blocks));
});

describe('encodeExtentTree', () => {
  const extent = (index: number) => ({ logical: index * 10, physical: 1000 + index * 20, length: 10 });

  it('keeps up to four extents in the inode, depth 0', () => {
    const tree = encodeExtentTree([extent(0), extent(1)], [], 12, 5, 4096);
    expect(tree.blocks).toEqual([]);
    expect([tree.root.readUInt16LE(0), tree.root.readUInt16LE(2), tree.root.readUInt16LE(4), tree.root.readUInt16LE(6)]).toEqual([0xf30a, 2, 4, 0]);
    expect([tree.root.readUInt32LE(24), tree.root.readUInt16LE(28), tree.root.readUInt32LE(32)]).toEqual([10, 10, 1020]);
  });

  it('puts more in a checksummed leaf block indexed from the inode', () => {
    const extents = Array.from({ length: 5 }, (_, index) => extent(index));
    const tree = encodeExtentTree(extents, [777], 12, 5, 4096);
    expect([tree.root.readUInt16LE(2), tree.root.readUInt16LE(6), tree.root.readUInt32LE(12), tree.root.readUInt32LE(16)]).toEqual([1, 1, 0, 777]);
    const leaf = tree.blocks[0]!;
    expect(leaf.block).toBe(777);
    expect([leaf.bytes.readUInt16LE(2), leaf.bytes.readUInt16LE(4), leaf.bytes.readUInt16LE(6)]).toEqual([5, 340, 0]);
    expect(leaf.bytes.readUInt32LE(4092)).toBe(crc32c(inodeSeed(5, 12), leaf.bytes.subarray(0, 4092)));
  });

  it('refuses the wrong number of tree blocks', () => {
    expect(() => encodeExtentTree([extent(0)], [1], 12, 5, 4096)).toThrow('1 extents need 0 tree blocks, not 1');
  });
});

describe('encodeDirectory', () => {
  const entry = (name: string, ino: number): DirectoryEntry => ({ name, ino, fileType: FILE_TYPE.file });

  it('packs entries at four-byte steps, stretches the last to the tail and checksums the block', () => {
    const [block] = encodeDirectory([entry('.', 12), entry('..', 2), entry('hello', 13)], 12, 5, 4096);
    expect([block!.readUInt32LE(0), block!.readUInt16LE(4), block!.readUInt8(6)]).toEqual([12, 12, 1]);
    expect([block!.readUInt32LE(24), block!.readUInt16LE(28), block!.subarray(32, 37).toString()]).toEqual([13, 4084 - 24, 'hello']);
    expect([block!.readUInt16LE(4084 + 4), block!.readUInt8(4084 + 7)]).toEqual([12, 0xde]);
    expect(block!.readUInt32LE(4092)).toBe(crc32c(inodeSeed(5, 12), block!.subarray(0, 4084)));
  });

  it.each([
    // 12 + 12 + 338 × 12 = 4080 ≤ 4084: one block; one more entry needs a second
    [338, 1],
    [339, 2],
  ])('%i one-letter names take %i blocks', (count, blocks) => {
    const entries = [entry('.', 1), entry('..', 1), ...Array.from({ length: count }, (_, index) => entry(String.fromCharCode(65 + (index % 26)), 20 + index))];
    expect(directoryBlockCount(entries, 4096)).toBe(blocks);
    expect(encodeDirectory(entries, 1, 0, 4096)).toHaveLength(blocks);
  });

  it('refuses a name longer than 255 bytes', () => {
    expect(() => encodeDirectory([entry('x'.repeat(256), 3)], 1, 0, 4096)).toThrow('cannot store a 256-byte name');
  });
});

describe('encodeInode', () => {
  const fields = {
    mode: 0o100644,
    size: 2 ** 32 + 3,
    links: 2,
    blocks: 3,
    flags: 0x80000,
    block: Buffer.alloc(60, 7),
    times: { atime: 1, ctime: 2, mtime: 3, crtime: 2 ** 31 + 4 },
  };

  it('lays out the fields and the checksum halves', () => {
    const inode = encodeInode(fields, 12, 256, 5, 4096);
    expect(inode.readUInt16LE(0)).toBe(0o100644);
    expect([inode.readUInt32LE(4), inode.readUInt32LE(0x6c)]).toEqual([3, 1]);
    expect([inode.readUInt32LE(0x08), inode.readUInt32LE(0x0c), inode.readUInt32LE(0x10)]).toEqual([1, 2, 3]);
    // past 2038: the low 32 bits signed, the epoch bits in the extra field
    expect([inode.readInt32LE(0x90), inode.readUInt32LE(0x94)]).toEqual([-(2 ** 31) + 4, 1]);
    expect([inode.readUInt16LE(0x1a), inode.readUInt32LE(0x1c), inode.readUInt16LE(0x80)]).toEqual([2, 24, 32]);
    const crc = inode.readUInt16LE(0x7c) | (inode.readUInt16LE(0x82) << 16);
    const zeroed = Buffer.from(inode);
    zeroed.writeUInt16LE(0, 0x7c);
    zeroed.writeUInt16LE(0, 0x82);
    expect(crc >>> 0).toBe(crc32c(inodeSeed(5, 12), zeroed));
  });

  it('writes into a given slot rather than allocating', () => {
    const table = Buffer.alloc(512);
    encodeInode(fields, 13, 256, 5, 4096, table.subarray(256));
    expect(table.subarray(256)).toEqual(encodeInode(fields, 13, 256, 5, 4096));
    expect(table.subarray(0, 256).every((byte) => byte === 0)).toBe(true);
  });
});
