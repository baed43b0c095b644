/**
 * Where make-disk-image mounts each filesystem while it installs (FACTS §6.5), and the
 * identity each one gets before it is formatted, so a boot loader can name them:
 * the root's ext4 UUID (rootFSUID; nixpkgs' deterministic default; else random) and
 * each FAT volume id (derived from the label when deterministic, else random).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ImageMount } from '../boot/bootloader.js';
import { DEFAULT_DETERMINISTIC_UUID } from '../fs/ext4.js';
import { volumeIdFor } from '../fs/vfat.js';
import type { PartitionTableType } from '../../options.js';
import type { PartitionRole } from '../plan.js';

/** The FAT partitions of each layout: role, mount point, label; the root is always `/`. */
const BOOT_MOUNTS: Record<PartitionTableType, { role: PartitionRole; mountPoint: string; label: 'ESP' | 'BOOT' }[]> = {
  none: [],
  legacy: [],
  'legacy+gpt': [],
  'legacy+boot': [{ role: 'boot', mountPoint: '/boot', label: 'BOOT' }],
  efi: [{ role: 'esp', mountPoint: '/boot', label: 'ESP' }],
  hybrid: [{ role: 'esp', mountPoint: '/boot', label: 'ESP' }],
  efixbootldr: [
    { role: 'esp', mountPoint: '/efi', label: 'ESP' },
    { role: 'xbootldr', mountPoint: '/boot', label: 'BOOT' },
  ],
};

export interface MountChoices {
  partitionTableType: PartitionTableType;
  fsType: string;
  label: string;
  rootFSUID: string | null;
  deterministic: boolean;
}

/** `XXXX-XXXX`, as blkid, fstab and GRUB spell a FAT volume id. */
function fatVolumeId(label: string, deterministic: boolean, random: () => Buffer): string {
  const hex = volumeIdFor({ uuid: null, label, deterministic }) ?? random().toString('hex').toUpperCase();
  return `${hex.slice(0, 4)}-${hex.slice(4, 8)}`;
}

/**
 * The mounts, root first; pure but for the random ids of a build that is not
 * deterministic (`random` and `randomUuid` make it testable).
 */
export function imageMounts(choices: MountChoices, random: () => Buffer = () => randomBytes(4), randomUuid: () => string = randomUUID): ImageMount[] {
  const rootUuid =
    choices.rootFSUID ?? (choices.fsType === 'ext4' ? (choices.deterministic ? DEFAULT_DETERMINISTIC_UUID : randomUuid()) : '');
  return [
    { mountPoint: '/', role: 'root', fsType: choices.fsType, uuid: rootUuid.toLowerCase(), label: choices.label },
    ...BOOT_MOUNTS[choices.partitionTableType].map(({ role, mountPoint, label }) => ({
      mountPoint,
      role,
      fsType: 'vfat',
      uuid: fatVolumeId(label, choices.deterministic, random),
      label,
    })),
  ];
}

/** The mount that holds an installed path: the longest mount point that is a prefix of it; pure. */
export function mountOf(mounts: readonly ImageMount[], installedPath: string): ImageMount {
  const normalized = `/${installedPath.replace(/^\/+/, '')}`;
  let best = mounts.find((m) => m.mountPoint === '/')!;
  for (const mount of mounts) {
    if (mount.mountPoint === '/') continue;
    if ((normalized === mount.mountPoint || normalized.startsWith(`${mount.mountPoint}/`)) && mount.mountPoint.length > best.mountPoint.length) best = mount;
  }
  return best;
}
