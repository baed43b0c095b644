import { describe, expect, it } from 'vitest';
import { ext4, inodesInUse, mke2fsArgs, pinInodesScript } from '../../../src/image/fs/ext4.js';
import { filesystemConformance } from './conformance.js';

filesystemConformance({
  fs: ext4,
  label: 'nixos',
  uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  blkidUuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  extraEntries: ['lost+found'],
  byteIdentical: true,
  sizeStep: 4096,
});
