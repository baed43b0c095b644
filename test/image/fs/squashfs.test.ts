import { squashfs } from '../../../src/image/fs/squashfs.js';
import { squashfsOwners } from '../../helpers/image-owners.js';
import { filesystemConformance, ownersByEntry } from './conformance.js';

filesystemConformance({ fs: squashfs, label: '', uuid: null, byteIdentical: true, sizeStep: 4096, owners: ownersByEntry(squashfsOwners) });
