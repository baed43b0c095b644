import { PARTITION_TABLE_TYPES } from '../../options.js';
import { DEFAULT_ROOT_GPUID } from '../schema.js';
import { didYouMean } from './names.js';
import { diagnostic, explicit, known, knownBool, knownString, nixString, quote, rangeOfArgument, replaceValueFix, setArgumentFix, type Rule } from './rule.js';

/**
 * The asserts at the top of make-disk-image.nix, in nixpkgs' order (FACTS §1). Each
 * fails the nixpkgs build at evaluation time, so each is an error here too, except
 * ext4-with-a-table, which nixdisk lifts (see effects.ts).
 */

export const partitionTableTypeOneOf: Rule = {
  code: 'invalid-partition-table-type',
  summary: 'partitionTableType is not one of the layouts nixpkgs knows.',
  check(ctx) {
    const value = known(ctx, 'partitionTableType', 'string');
    if (!value || (PARTITION_TABLE_TYPES as readonly string[]).includes(value.value)) return [];
    const suggestion = didYouMean(value.value, PARTITION_TABLE_TYPES);
    const message =
      `partitionTableType ${quote(value.value)} is not one of ${PARTITION_TABLE_TYPES.map(quote).join(', ')}` +
      (suggestion ? `; did you mean ${quote(suggestion)}?` : '');
    return [diagnostic(this.code, 'error', message, value.range, suggestion ? replaceValueFix(`Use ${quote(suggestion)}`, value, nixString(suggestion)) : undefined)];
  },
};

export const deterministicExt4NeedsRootFSUID: Rule = {
  code: 'deterministic-ext4-needs-rootfsuid',
  summary: 'A deterministic ext4 image needs a rootFSUID.',
  check(ctx) {
    if (knownString(ctx, 'fsType') !== 'ext4' || knownBool(ctx, 'deterministic') !== true) return [];
    const rootFSUID = ctx.args.get('rootFSUID')?.value;
    if (rootFSUID?.kind !== 'null') return [];
    const uuid = knownString(ctx, 'rootGPUID') ?? DEFAULT_ROOT_GPUID;
    return [
      diagnostic(
        this.code,
        'error',
        'In deterministic mode an ext4 root filesystem needs a rootFSUID; nixpkgs asserts rootFSUID != null (by default it equals rootGPUID)',
        rangeOfArgument(ctx, 'rootFSUID'),
        setArgumentFix(ctx, 'Set rootFSUID to a fixed UUID', 'rootFSUID', nixString(uuid)),
      ),
    ];
  },
};

const EFI_VARS_TABLES = ['hybrid', 'efi', 'efixbootldr', 'legacy+gpt'];

export const efiVarsNeedGpt: Rule = {
  code: 'efivars-need-gpt',
  summary: 'touchEFIVars needs a GPT layout.',
  check(ctx) {
    if (knownBool(ctx, 'touchEFIVars') !== true) return [];
    const table = knownString(ctx, 'partitionTableType');
    if (table === undefined || EFI_VARS_TABLES.includes(table) || !(PARTITION_TABLE_TYPES as readonly string[]).includes(table)) return [];
    return [
      diagnostic(
        this.code,
        'error',
        `touchEFIVars needs partitionTableType hybrid, efi, efixbootldr or legacy+gpt, not ${quote(table)}`,
        rangeOfArgument(ctx, 'touchEFIVars'),
      ),
    ];
  },
};

/** nixpkgs: `onlyNixStore -> contents == [] && configFile == null && !installBootLoader`. */
export const onlyNixStoreConflicts: Rule = {
  code: 'only-nix-store-conflict',
  summary: 'onlyNixStore with contents, a configFile or a boot loader.',
  check(ctx) {
    if (knownBool(ctx, 'onlyNixStore') !== true) return [];
    const found = [];
    const contents = known(ctx, 'contents', 'list');
    if (contents && contents.items.length > 0) {
      found.push(diagnostic(this.code, 'error', 'A store-only image (onlyNixStore = true) cannot have contents; nixpkgs asserts contents == []', contents.range));
    }
    const configFile = ctx.args.get('configFile')?.value;
    if (configFile && configFile.kind !== 'null' && configFile.kind !== 'dynamic') {
      found.push(diagnostic(this.code, 'error', 'A store-only image (onlyNixStore = true) cannot have a configFile; nixpkgs asserts configFile == null', configFile.range));
    }
    if (knownBool(ctx, 'installBootLoader') === true) {
      const setExplicitly = explicit(ctx, 'installBootLoader');
      const message = setExplicitly
        ? 'A store-only image (onlyNixStore = true) cannot install a boot loader; set installBootLoader = false'
        : 'installBootLoader defaults to true, which nixpkgs rejects for a store-only image (onlyNixStore = true); add installBootLoader = false';
      found.push(
        diagnostic(
          this.code,
          'error',
          message,
          setExplicitly ? setExplicitly.value.range : rangeOfArgument(ctx, 'onlyNixStore'),
          setArgumentFix(ctx, 'Set installBootLoader = false', 'installBootLoader', 'false'),
        ),
      );
    }
    return found;
  },
};

/** nixpkgs: every contents entry sets both of user and group, or neither. */
export const contentsUserAndGroup: Rule = {
  code: 'contents-user-group',
  summary: 'A contents entry sets user without group or group without user.',
  check(ctx) {
    const contents = known(ctx, 'contents', 'list');
    if (!contents) return [];
    const found = [];
    for (const entry of contents.items) {
      if (entry.kind !== 'attrs') continue;
      const user = entry.attrs.get('user');
      const group = entry.attrs.get('group');
      const isSet = (attr: typeof user) => attr !== undefined && attr.value.kind !== 'null';
      const unknown = (attr: typeof user) => attr !== undefined && attr.value.kind === 'dynamic';
      if (unknown(user) || unknown(group) || isSet(user) === isSet(group)) continue;
      const present = isSet(user) ? user! : group!;
      const missing = isSet(user) ? 'group' : 'user';
      found.push(
        diagnostic(this.code, 'error', `This contents entry sets ${isSet(user) ? 'user' : 'group'} but not ${missing}; nixpkgs needs both or neither`, present.nameRange),
      );
    }
    return found;
  },
};

export const ASSERT_RULES: readonly Rule[] = [
  partitionTableTypeOneOf,
  deterministicExt4NeedsRootFSUID,
  efiVarsNeedGpt,
  onlyNixStoreConflicts,
  contentsUserAndGroup,
];
