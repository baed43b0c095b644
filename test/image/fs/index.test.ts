import { describe, expect, it } from 'vitest';
import { FS_TYPES, fsTypeFacts, isValidUuid, labelProblem, SUPPORTED_FS_TYPES } from '../../../src/fstypes.js';
import { FILESYSTEMS, filesystemFor, UnsupportedFsTypeError } from '../../../src/image/fs/index.js';
import { DEBIAN_PACKAGE_OF } from '../../../src/tools.js';

describe('filesystemFor', () => {
  it('finds every fsType the static facts know, and each writer names its own fsType', () => {
    expect(Object.keys(FILESYSTEMS).sort()).toEqual([...SUPPORTED_FS_TYPES].sort());
    for (const fsType of SUPPORTED_FS_TYPES) expect(filesystemFor(fsType).fsType).toBe(fsType);
  });

  it('lists the supported fsTypes when asked for another', () => {
    expect(() => filesystemFor('zfs')).toThrow(UnsupportedFsTypeError);
    expect(() => filesystemFor('zfs')).toThrow(/"zfs".*supported: ext4, btrfs, xfs, erofs, squashfs, vfat, f2fs/);
    expect(() => filesystemFor('toString')).toThrow(UnsupportedFsTypeError);
  });

  it('names the Debian package of its creating tool the way the static facts do', () => {
    for (const fsType of SUPPORTED_FS_TYPES) {
      const packages = filesystemFor(fsType).tools.map((tool) => tool.debianPackage);
      expect(packages).toContain(FS_TYPES[fsType]!.debianPackage);
    }
  });
});

describe('fsType facts', () => {
  it.each([
    ['ext4', 'nixos', null],
    ['ext4', 'sixteen-bytes-ok', null],
    ['ext4', 'seventeen-bytes-x', 'label "seventeen-bytes-x" is 17 bytes; ext4 labels hold at most 16'],
    ['ext4', 'ünïcödé-label-x', 'label "ünïcödé-label-x" is 19 bytes; ext4 labels hold at most 16'],
    ['vfat', 'ESP', null],
    ['vfat', 'TWELVE-CHARS', 'label "TWELVE-CHARS" is 12 bytes; vfat labels hold at most 11'],
    ['xfs', 'thirteen-char', 'label "thirteen-char" is 13 bytes; xfs labels hold at most 12'],
    ['squashfs', 'nixos', 'squashfs has no volume label'],
    ['squashfs', '', null],
  ])('%s label %j', (fsType, label, problem) => {
    expect(labelProblem(fsTypeFacts(fsType)!, label)).toBe(problem);
  });

  it.each([
    ['dce', 'f222513b-ded1-49fa-b591-20ce86a2fe7f', true],
    ['dce', 'f222513b-ded1-49fa-b591-20ce86a2fe7', false],
    ['fat-serial', '1234-ABCD', true],
    ['fat-serial', '1234abcd', true],
    ['fat-serial', '1234-ABCG', false],
    ['none', 'anything', false],
  ] as const)('%s %s valid: %s', (notation, uuid, valid) => {
    expect(isValidUuid(notation, uuid)).toBe(valid);
  });

  it('knows nothing of names that are not fsTypes', () => {
    expect(fsTypeFacts('constructor')).toBeUndefined();
    expect(fsTypeFacts('zfs')).toBeUndefined();
  });
});

describe('tool lists', () => {
  it('name a Debian package for every command, matching runTool\'s table', () => {
    for (const fs of Object.values(FILESYSTEMS)) {
      for (const tool of fs.tools) expect(DEBIAN_PACKAGE_OF[tool.command], `${fs.fsType}: ${tool.command}`).toBe(tool.debianPackage);
    }
  });
});

describe('format facts the writers rely on', () => {
  it('marks the images built at their natural size as read-only, and FAT as unable to hold POSIX trees', () => {
    expect(SUPPORTED_FS_TYPES.filter((fsType) => FS_TYPES[fsType]!.readOnly)).toEqual(['erofs', 'squashfs']);
    expect(SUPPORTED_FS_TYPES.filter((fsType) => !FS_TYPES[fsType]!.posix)).toEqual(['vfat']);
  });
});
