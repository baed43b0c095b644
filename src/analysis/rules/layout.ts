import { PARTITION_TABLE_TYPES, type PartitionTableType } from '../../options.js';
import { bootEndMiB } from './sizes.js';
import { diagnostic, known, knownBool, knownString, nixString, rangeOfArgument, setArgumentFix, type Rule, type RuleContext } from './rule.js';

/**
 * Where the boot partition that bootSize ends starts, in MiB (FACTS §3.4): the ESP at
 * 8 MiB (efi, hybrid), BOOT after the fixed 100 MiB ESP (efixbootldr), BOOT at 1 MiB
 * (legacy+boot). Other layouts have no partition that bootSize ends.
 */
const BOOT_PARTITION_START_MIB: Partial<Record<PartitionTableType, { start: number; name: string }>> = {
  efi: { start: 8, name: 'ESP' },
  hybrid: { start: 8, name: 'ESP' },
  efixbootldr: { start: 100, name: 'BOOT partition' },
  'legacy+boot': { start: 1, name: 'BOOT partition' },
};

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
    const boot = table && BOOT_PARTITION_START_MIB[table];
    const bootSize = known(ctx, 'bootSize', 'string');
    const end = bootSize && bootEndMiB(bootSize.value);
    if (!boot || end === undefined || end > boot.start) return [];
    return [
      diagnostic(
        this.code,
        'error',
        `bootSize ${JSON.stringify(bootSize!.value)} ends the ${boot.name} at ${end} MiB, but with ${table} it starts at ${boot.start} MiB; bootSize must be at least ${boot.start}M`,
        rangeOfArgument(ctx, 'bootSize'),
        setArgumentFix(ctx, 'Use the default "256M"', 'bootSize', nixString('256M')),
      ),
    ];
  },
};

/**
 * The MiB where the root partition starts and the MiB the table keeps after it
 * (GPT's backup header: parted ends the last partition 1 MiB before the end).
 */
export function rootPartitionBounds(table: PartitionTableType, bootEnd: number): { startMiB: number; tailMiB: number } {
  switch (table) {
    case 'none':
      return { startMiB: 0, tailMiB: 0 };
    case 'legacy':
      return { startMiB: 1, tailMiB: 0 };
    case 'legacy+boot':
      return { startMiB: bootEnd, tailMiB: 0 };
    case 'legacy+gpt':
      return { startMiB: 2, tailMiB: 1 };
    case 'efi':
    case 'hybrid':
    case 'efixbootldr':
      return { startMiB: bootEnd, tailMiB: 1 };
  }
}

/** A fixed diskSize with no room left for the root partition. */
export const diskTooSmall: Rule = {
  code: 'disk-too-small',
  summary: 'A fixed diskSize that leaves no room for the root filesystem.',
  check(ctx) {
    const table = tableType(ctx);
    const diskSize = known(ctx, 'diskSize', 'int') ?? known(ctx, 'diskSize', 'string');
    const mebibytes = diskSize?.kind === 'int' ? diskSize.value : diskSize && /^\d+$/.test(diskSize.value) ? Number(diskSize.value) : undefined;
    if (!table || mebibytes === undefined || mebibytes <= 0) return [];
    const bootSize = knownString(ctx, 'bootSize');
    const bootEnd = bootSize === undefined ? undefined : bootEndMiB(bootSize);
    if (bootEnd === undefined && BOOT_PARTITION_START_MIB[table]) return [];
    const { startMiB, tailMiB } = rootPartitionBounds(table, bootEnd ?? 0);
    const rootMiB = mebibytes - startMiB - tailMiB;
    if (rootMiB > 0) return [];
    return [
      diagnostic(
        this.code,
        'error',
        `diskSize ${mebibytes} MiB leaves no room for the root filesystem: with ${table} it starts at ${startMiB} MiB${tailMiB ? ' and GPT keeps the last MiB' : ''}, so diskSize must exceed ${startMiB + tailMiB}`,
        diskSize!.range,
      ),
    ];
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
