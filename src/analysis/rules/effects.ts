import type { Diagnostic } from '../diagnostic.js';
import { ARGUMENTS } from '../schema.js';
import { diagnostic, explicit, knownBool, knownString, type Rule, type RuleContext } from './rule.js';

/** Layouts whose root partition gets rootGPUID (when deterministic). */
const ROOT_GPUID_TABLES = ['efi', 'efixbootldr', 'hybrid'];
const BOOT_SIZE_TABLES = ['efi', 'efixbootldr', 'hybrid', 'legacy+boot'];

/**
 * Arguments that change nothing in the given combination: each was probably meant
 * to do something, so the user should know it does not.
 */
export const noEffect: Rule = {
  code: 'no-effect',
  summary: 'An argument that has no effect in this combination.',
  check(ctx) {
    const found: Diagnostic[] = [];
    const warn = (name: string, why: string) => {
      const given = explicit(ctx, name);
      if (given) found.push(diagnostic(this.code, 'warning', `${name} has no effect: ${why}`, given.nameRange ?? given.value.range));
    };
    const table = knownString(ctx, 'partitionTableType');
    const fsType = knownString(ctx, 'fsType');

    if (table !== undefined && ['legacy', 'legacy+gpt', 'none'].includes(table)) {
      warn('bootSize', `the ${table} layout has no boot partition (only ${BOOT_SIZE_TABLES.join(', ')} use it)`);
    }
    const diskSize = ctx.args.get('diskSize')?.value;
    if (diskSize && (diskSize.kind === 'int' || (diskSize.kind === 'string' && diskSize.value !== 'auto'))) {
      warn('additionalSpace', 'it only adds to an automatic size, and diskSize is fixed');
    }
    if (knownBool(ctx, 'touchEFIVars') === false) {
      warn('efiVariables', 'it is only read when touchEFIVars = true');
      warn('OVMF', 'its files are only read when touchEFIVars = true');
    } else if (explicit(ctx, 'efiVariables')) {
      warn('OVMF', 'efiVariables is given, and the build VM firmware is not used by nixdisk');
    }
    if (fsType === 'squashfs') {
      warn('label', 'squashfs has no label');
      if (ctx.args.get('rootFSUID')?.value.kind !== 'null') warn('rootFSUID', 'squashfs has no UUID');
    }
    checkRootGPUID(ctx, table, fsType, warn);
    return found;
  },
};

function checkRootGPUID(ctx: RuleContext, table: string | undefined, fsType: string | undefined, warn: (name: string, why: string) => void): void {
  if (table === undefined || fsType === undefined) return;
  // rootFSUID defaults to rootGPUID on ext4: then rootGPUID still matters.
  const feedsRootFSUID = fsType === 'ext4' && ctx.args.get('rootFSUID')?.isDefault === true;
  if (feedsRootFSUID) return;
  if (table === 'legacy+gpt') {
    warn('rootGPUID', 'legacy+gpt has only two partitions, and its root partition always gets 970C694F-AFD0-4B99-B750-CDB7A329AB6F');
  } else if (!ROOT_GPUID_TABLES.includes(table)) {
    warn('rootGPUID', `the ${table} layout has no GPT`);
  } else if (knownBool(ctx, 'deterministic') === false) {
    warn('rootGPUID', 'GPT GUIDs are only pinned when deterministic = true');
  }
}

/** Arguments only nixpkgs' build VM reads: harmless, and the user may want them for nix-build, so only an info. */
export const vmOnly: Rule = {
  code: 'vm-only',
  summary: "An argument only nixpkgs' build VM reads.",
  check(ctx) {
    return ARGUMENTS.filter((spec) => spec.vmOnly).flatMap((spec) => {
      const given = explicit(ctx, spec.name);
      if (!given) return [];
      const message = `${spec.name} has no effect in nixdisk: only nixpkgs' build VM reads it, and nixdisk builds without a VM`;
      return [diagnostic(this.code, 'info', message, given.nameRange ?? given.value.range)];
    });
  },
};

/** Constraints of nixpkgs that nixdisk does not have: the file builds with nixdisk, not with nix-build. */
export const liftedConstraint: Rule = {
  code: 'lifted-constraint',
  summary: 'A combination nixpkgs rejects and nixdisk builds.',
  check(ctx) {
    const table = knownString(ctx, 'partitionTableType');
    const fsType = knownString(ctx, 'fsType');
    if (table === undefined || table === 'none' || fsType === undefined || fsType === 'ext4') return [];
    const at = explicit(ctx, 'fsType')?.value.range ?? ctx.callRange;
    return [
      diagnostic(
        this.code,
        'info',
        `nixpkgs rejects fsType ${JSON.stringify(fsType)} with a partition table (it can only place ext4 at an offset); nixdisk builds it, but nix-build with nixpkgs' make-disk-image will fail`,
        at,
      ),
    ];
  },
};

export const EFFECT_RULES: readonly Rule[] = [noEffect, vmOnly, liftedConstraint];
