import { fsTypeFacts, isValidUuid, labelProblem, SUPPORTED_FS_TYPES } from '../../fstypes.js';
import { KNOWN_FORMATS } from '../../options.js';
import { didYouMean } from './names.js';
import { diagnostic, explicit, known, knownBool, knownString, nixString, quote, replaceValueFix, type Rule } from './rule.js';

/**
 * The other formats `qemu-img convert -O <format>` writes without extra options (qemu-utils
 * 7.2, checked against every format of `qemu-img --help`). The rest of that list only
 * reads images (bochs, cloop, dmg, vvfat), needs options nixpkgs cannot pass (luks) or
 * is a protocol or filter driver (nbd, http, throttle, …). `file` is the protocol under
 * raw and writes a raw image.
 */
export const OTHER_QEMU_IMG_FORMATS = ['vhdx', 'vmdk', 'qed', 'qcow', 'parallels', 'file'];

/** nixpkgs hands any other format to `qemu-img convert -O` as is: one qemu-img cannot write fails the build. */
export const unknownFormat: Rule = {
  code: 'unknown-format',
  summary: 'A format qemu-img cannot write; or one nixpkgs does not name, which goes to qemu-img unchanged.',
  check(ctx) {
    const value = known(ctx, 'format', 'string');
    if (!value || (KNOWN_FORMATS as readonly string[]).includes(value.value)) return [];
    if (OTHER_QEMU_IMG_FORMATS.includes(value.value)) {
      return [diagnostic(this.code, 'info', `format ${quote(value.value)} is passed to qemu-img -O as is; the image is named <baseName>.${value.value}`, value.range)];
    }
    const suggestion = didYouMean(value.value, [...KNOWN_FORMATS, ...OTHER_QEMU_IMG_FORMATS]);
    const message =
      `format ${quote(value.value)} is not a format qemu-img writes (${[...KNOWN_FORMATS, ...OTHER_QEMU_IMG_FORMATS].join(', ')}), so the image cannot be made` +
      (suggestion ? `; did you mean ${quote(suggestion)}?` : '');
    return [diagnostic(this.code, 'error', message, value.range, suggestion ? replaceValueFix(`Use ${quote(suggestion)}`, value, nixString(suggestion)) : undefined)];
  },
};

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
    const facts = fsType === undefined ? undefined : fsTypeFacts(fsType);
    const label = known(ctx, 'label', 'string');
    // A format without a label (squashfs; erofs with Debian's erofs-utils) just goes without one.
    if (!label || !facts || facts.labelMaxBytes === null) return [];
    const problem = labelProblem(facts, label.value);
    if (!problem) return [];
    return [diagnostic(this.code, 'error', problem, explicit(ctx, 'label') ? label.range : ctx.callRange)];
  },
};

export const invalidUuid: Rule = {
  code: 'invalid-uuid',
  summary: 'rootGPUID or rootFSUID is not a UUID.',
  check(ctx) {
    const found = [];
    const rootGPUID = known(ctx, 'rootGPUID', 'string');
    if (rootGPUID && !isValidUuid('dce', rootGPUID.value)) {
      found.push(diagnostic(this.code, 'error', `rootGPUID ${quote(rootGPUID.value)} is not a GUID like "F222513B-DED1-49FA-B591-20CE86A2FE7F"`, rootGPUID.range));
    }
    // A defaulted rootFSUID is rootGPUID: reported above already.
    const rootFSUID = explicit(ctx, 'rootFSUID') ? known(ctx, 'rootFSUID', 'string') : undefined;
    const fsType = knownString(ctx, 'fsType');
    const notation = fsType === undefined ? undefined : fsTypeFacts(fsType)?.uuidNotation;
    if (!rootFSUID || notation === undefined || notation === 'none') return found;
    if (!isValidUuid(notation, rootFSUID.value)) {
      const shape = notation === 'fat-serial' ? 'a FAT volume serial like "1234-ABCD"' : 'a UUID like "f222513b-ded1-49fa-b591-20ce86a2fe7f"';
      found.push(diagnostic(this.code, 'error', `rootFSUID ${quote(rootFSUID.value)} is not ${shape}`, rootFSUID.range));
    }
    return found;
  },
};

/** touchEFIVars copies efiVariables, which defaults to OVMF.variables: nixpkgs fails on an OVMF without it as well. */
export const ovmfWithoutVariables: Rule = {
  code: 'ovmf-without-variables',
  summary: 'touchEFIVars reads OVMF.variables, and the OVMF given has none.',
  check(ctx) {
    const ovmf = explicit(ctx, 'OVMF')?.value;
    if (knownBool(ctx, 'touchEFIVars') !== true || explicit(ctx, 'efiVariables') || ovmf?.kind !== 'attrs' || ovmf.attrs.has('variables')) return [];
    const message =
      'OVMF has no attribute "variables", which efiVariables defaults to and touchEFIVars copies; pass a firmware package like pkgs.OVMF.fd, or set efiVariables';
    return [diagnostic(this.code, 'error', message, ovmf.range)];
  },
};

export const VALUE_RULES: readonly Rule[] = [unknownFormat, unsupportedFsType, labelTooLong, invalidUuid, ovmfWithoutVariables];
