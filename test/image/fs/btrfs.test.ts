import { btrfs } from '../../../src/image/fs/btrfs.js';
import { filesystemConformance } from './conformance.js';

filesystemConformance({
  fs: btrfs,
  label: 'nixos',
  uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  blkidUuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  byteIdentical: false,
  sizeStep: 4096,
});
