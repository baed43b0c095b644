import { squashfs } from '../../../src/image/fs/squashfs.js';
import { filesystemConformance } from './conformance.js';

filesystemConformance({ fs: squashfs, label: '', uuid: null, byteIdentical: true, sizeStep: 4096 });
