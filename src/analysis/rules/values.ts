import { KNOWN_FORMATS } from '../../options.js';
import { didYouMean } from './names.js';
import { diagnostic, explicit, known, knownString, nixString, quote, replaceValueFix, type Rule } from './rule.js';

/** Formats `qemu-img convert -O` can write besides the ones nixpkgs names. */
const OTHER_QEMU_FORMATS = ['vmdk', 'vhdx', 'qed', 'qcow', 'parallels'];

export const unknownFormat: Rule = {
  code: 'unknown-format',
  summary: 'A format nixpkgs does not name; it goes to qemu-img unchanged.',
  check(ctx) {
    const value = known(ctx, 'format', 'string');
    if (!value || (KNOWN_FORMATS as readonly string[]).includes(value.value)) return [];
    if (OTHER_QEMU_FORMATS.includes(value.value)) {
      return [diagnostic(this.code, 'info', `format ${quote(value.value)} is passed to qemu-img -O as is; the image is named <baseName>.${value.value}`, value.range)];
    }
    const suggestion = didYouMean(value.value, [...KNOWN_FORMATS, ...OTHER_QEMU_FORMATS]);
    const message =
      `format ${quote(value.value)} is not one of ${KNOWN_FORMATS.map(quote).join(', ')}; it is passed to qemu-img -O unchanged, which will likely fail` +
      (suggestion ? `. Did you mean ${quote(suggestion)}?` : '');
    return [diagnostic(this.code, 'warning', message, value.range, suggestion ? replaceValueFix(`Use ${quote(suggestion)}`, value, nixString(suggestion)) : undefined)];
  },
};

/**
 * Label limits of each filesystem nixdisk writes, in bytes, from the mkfs tools:
 * mke2fs truncates past 16, mkfs.fat and mkfs.xfs refuse past 11 and 12, mkfs.btrfs
 * past 255, mkfs.f2fs past 512, mkfs.erofs past its 16-byte volume_name; squashfs
 * has no label at all.
 */
export const LABEL_LIMITS: Readonly<Record<string, number | null>> = {
  ext4: 16,
  vfat: 11,
  btrfs: 255,
  xfs: 12,
  erofs: 16,
  f2fs: 512,
  squashfs: null,
};

export const SUPPORTED_FS_TYPES = Object.keys(LABEL_LIMITS);

export const unsupportedFsType: Rule = {
  code: 'unsupported-fstype',
  summary: 'An fsType nixdisk cannot write.',
  check(ctx) {
    const value = known(ctx, 'fsType', 'string');
    if (!value || SUPPORTED_FS_TYPES.includes(value.value)) return [];
    const suggestion = didYouMean(value.value, SUPPORTED_FS_TYPES);
    const message = `fsType ${quote(value.value)} is not one nixdisk writes (${SUPPORTED_FS_TYPES.join(', ')})` + (suggestion ? `; did you mean ${quote(suggestion)}?` : '');
    return [diagnostic(this.code, 'error', message, value.range, suggestion ? replaceValueFix(`Use ${quote(suggestion)}`, value, nixString(suggestion)) : undefined)];
  },
};

export const labelTooLong: Rule = {
  code: 'label-too-long',
  summary: "A label longer than the filesystem's limit.",
  check(ctx) {
    const fsType = knownString(ctx, 'fsType');
    const label = known(ctx, 'label', 'string');
    const limit = fsType === undefined ? undefined : LABEL_LIMITS[fsType];
    if (!label || limit === undefined || limit === null) return [];
    const bytes = Buffer.byteLength(label.value, 'utf8');
    if (bytes <= limit) return [];
    return [diagnostic(this.code, 'error', `label ${quote(label.value)} is ${bytes} bytes; ${fsType} labels hold at most ${limit}`, explicit(ctx, 'label') ? label.range : ctx.callRange)];
  },
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FAT_SERIAL = /^[0-9a-f]{4}-?[0-9a-f]{4}$/i;

export const invalidUuid: Rule = {
  code: 'invalid-uuid',
  summary: 'rootGPUID or rootFSUID is not a UUID.',
  check(ctx) {
    const found = [];
    const rootGPUID = known(ctx, 'rootGPUID', 'string');
    if (rootGPUID && !UUID.test(rootGPUID.value)) {
      found.push(diagnostic(this.code, 'error', `rootGPUID ${quote(rootGPUID.value)} is not a GUID like "F222513B-DED1-49FA-B591-20CE86A2FE7F"`, rootGPUID.range));
    }
    // A defaulted rootFSUID is rootGPUID: reported above already.
    const rootFSUID = explicit(ctx, 'rootFSUID') ? known(ctx, 'rootFSUID', 'string') : undefined;
    const fsType = knownString(ctx, 'fsType');
    if (!rootFSUID || fsType === undefined || fsType === 'squashfs') return found;
    if (fsType === 'vfat' ? !FAT_SERIAL.test(rootFSUID.value) : !UUID.test(rootFSUID.value)) {
      const shape = fsType === 'vfat' ? 'a FAT volume serial like "1234-ABCD"' : 'a UUID like "f222513b-ded1-49fa-b591-20ce86a2fe7f"';
      found.push(diagnostic(this.code, 'error', `rootFSUID ${quote(rootFSUID.value)} is not ${shape}`, rootFSUID.range));
    }
    return found;
  },
};

export const VALUE_RULES: readonly Rule[] = [unknownFormat, unsupportedFsType, labelTooLong, invalidUuid];
