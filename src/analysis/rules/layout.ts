import { PARTITION_TABLE_TYPES, type PartitionTableType } from '../../options.js';
import { bootEndMiBFromBytes, bootSizedPartition, layoutPartitions, LayoutError, SECTORS_PER_MIB } from '../../image/table/layouts.js';
import { parseIecSize } from '../../units.js';
import { DEFAULT_ROOT_GPUID, fixedDiskSizeMiB } from '../schema.js';
import { diagnostic, known, knownBool, knownString, nixString, rangeOfArgument, setArgumentFix, type Rule, type RuleContext } from './rule.js';

/** The layout when it is known and one nixpkgs knows (another rule reports the rest). */
function tableType(ctx: RuleContext): PartitionTableType | undefined {
  const table = knownString(ctx, 'partitionTableType');
  return (PARTITION_TABLE_TYPES as readonly string[]).includes(table ?? '') ? (table as PartitionTableType) : undefined;
}

export const bootPartitionNoRoom: Rule = {
  code: 'boot-partition-no-room',
  summary: 'bootSize ends the boot partition before it starts.',
  check(ctx) {
    const table = tableType(ctx);
    const boot = table && bootSizedPartition(table);
    const bootSize = known(ctx, 'bootSize', 'string');
    const bootBytes = bootSize ? parseIecSize(bootSize.value) : null;
    const end = bootBytes === null ? undefined : bootEndMiBFromBytes(bootBytes);
    if (!boot || end === undefined || end > boot.startMiB) return [];
    return [
      diagnostic(
        this.code,
        'error',
        `bootSize ${JSON.stringify(bootSize!.value)} ends the ${boot.name} at ${end} MiB, but with ${table} it starts at ${boot.startMiB} MiB; bootSize must be at least ${boot.startMiB}M`,
        rangeOfArgument(ctx, 'bootSize'),
        setArgumentFix(ctx, 'Use the default "256M"', 'bootSize', nixString('256M')),
      ),
    ];
  },
};


/**
 * A fixed diskSize that the layout does not fit in, as the partition layout code
 * (the same one the build uses) finds it. A boot partition that ends before it
 * starts is bootPartitionNoRoom's finding, not repeated here.
 */
export const diskTooSmall: Rule = {
  code: 'disk-too-small',
  summary: 'A fixed diskSize the partition layout does not fit in.',
  check(ctx) {
    const table = tableType(ctx);
    const mebibytes = fixedDiskSizeMiB(ctx.args.get('diskSize')?.value);
    const bootSize = knownString(ctx, 'bootSize');
    const bootBytes = bootSize === undefined ? undefined : parseIecSize(bootSize);
    if (!table || mebibytes === undefined || bootBytes === undefined || bootBytes === null || bootBytes < 0) return [];
    // A boot partition that bootSize leaves empty is boot-partition-no-room's to report.
    const boot = bootSizedPartition(table);
    if (boot && bootEndMiBFromBytes(bootBytes) <= boot.startMiB) return [];
    try {
      // GUIDs do not move partitions: the default keeps an invalid rootGPUID (reported elsewhere) out of the way.
      layoutPartitions(table, mebibytes * SECTORS_PER_MIB, bootBytes, DEFAULT_ROOT_GPUID);
      return [];
    } catch (error) {
      if (!(error instanceof LayoutError)) throw error;
      return [diagnostic(this.code, 'error', `diskSize ${mebibytes} (MiB) does not fit the ${table} layout: ${error.message}`, rangeOfArgument(ctx, 'diskSize'))];
    }
  },
};

/** nixpkgs allows touchEFIVars with legacy+gpt, but that layout has no ESP for a boot entry to point at. */
export const efiVarsWithoutEsp: Rule = {
  code: 'efivars-without-esp',
  summary: 'touchEFIVars with legacy+gpt, a layout without an ESP.',
  check(ctx) {
    if (knownBool(ctx, 'touchEFIVars') !== true || tableType(ctx) !== 'legacy+gpt') return [];
    return [
      diagnostic(
        this.code,
        'warning',
        'touchEFIVars with legacy+gpt: this layout has no EFI system partition, so no UEFI boot entry can point into the image; efi-vars.fd stays a copy of efiVariables',
        rangeOfArgument(ctx, 'touchEFIVars'),
      ),
    ];
  },
};

export const LAYOUT_RULES: readonly Rule[] = [bootPartitionNoRoom, diskTooSmall, efiVarsWithoutEsp];
