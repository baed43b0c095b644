import { erofs } from '../../../src/image/fs/erofs.js';
import { filesystemConformance } from './conformance.js';

filesystemConformance({
  fs: erofs,
  label: '',
  uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  blkidUuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f',
  byteIdentical: true,
  sizeStep: 4096,
});
