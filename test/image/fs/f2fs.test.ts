import { f2fs } from '../../../src/image/fs/f2fs.js';
import { f2fsOwners } from '../../helpers/image-owners.js';
import { filesystemConformance, ownersByEntry } from './conformance.js';

filesystemConformance({
  fs: f2fs,
  label: 'nixos',
  uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  blkidUuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  byteIdentical: true,
  sizeStep: 4096,
  owners: ownersByEntry(f2fsOwners),
});
