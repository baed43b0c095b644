import { describe, expect, it } from 'vitest';
import { systemSkeleton } from '../../../src/image/system/profiles.js';
import { imageMounts, mountOf } from '../../../src/image/system/mounts.js';
import { pinRegistrationTimesSql } from '../../../src/image/system/nix-db.js';
import { overlayWrites } from '../../../src/image/system/boot-tree.js';
import { PARTITION_TABLE_TYPES } from '../../../src/options.js';

const TOPLEVEL = '/nix/store/00000000000000000000000000000000-nixos-system-x';
const CHANNEL = '/nix/store/11111111111111111111111111111111-nixos-24.11';

describe('systemSkeleton', () => {
  it('without a channel: profiles, state folders, /etc/NIXOS; no gcroots/profiles, no /root', () => {
    const entries = systemSkeleton({ toplevel: TOPLEVEL, channel: null });
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('nix/var/nix/profiles/system')).toEqual({ path: 'nix/var/nix/profiles/system', kind: 'symlink', target: 'system-1-link' });
    expect(byPath.get('nix/var/nix/profiles/system-1-link')).toMatchObject({ target: TOPLEVEL });
    expect(byPath.get('etc/NIXOS')).toEqual({ path: 'etc/NIXOS', kind: 'file', mode: 0o644, content: '' });
    expect(byPath.has('nix/var/nix/gcroots/profiles')).toBe(false);
    expect([...byPath.keys()].some((p) => p.startsWith('root'))).toBe(false);
    // Parents first.
    entries.forEach((entry, i) => {
      const parent = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/')) : null;
      if (parent) expect(entries.slice(0, i).some((e) => e.path === parent)).toBe(true);
    });
  });
  it('with a channel: its profile and /root/.nix-defexpr/channels (0700 folder)', () => {
    const byPath = new Map(systemSkeleton({ toplevel: TOPLEVEL, channel: CHANNEL }).map((e) => [e.path, e]));
    expect(byPath.get('nix/var/nix/profiles/per-user/root/channels')).toMatchObject({ target: 'channels-1-link' });
    expect(byPath.get('nix/var/nix/profiles/per-user/root/channels-1-link')).toMatchObject({ target: CHANNEL });
    expect(byPath.get('root/.nix-defexpr')).toMatchObject({ kind: 'directory', mode: 0o700 });
    expect(byPath.get('root/.nix-defexpr/channels')).toMatchObject({ target: '/nix/var/nix/profiles/per-user/root/channels' });
  });
});

describe('imageMounts (FACTS §6.5)', () => {
  const choices = { fsType: 'ext4', label: 'nixos', rootFSUID: 'F222513B-DED1-49FA-B591-20CE86A2FE7F', deterministic: true };
  it.each([
    ['none', []],
    ['legacy', []],
    ['legacy+gpt', []],
    ['legacy+boot', [['/boot', 'boot', 'BOOT']]],
    ['efi', [['/boot', 'esp', 'ESP']]],
    ['hybrid', [['/boot', 'esp', 'ESP']]],
    ['efixbootldr', [['/efi', 'esp', 'ESP'], ['/boot', 'xbootldr', 'BOOT']]],
  ] as const)('%s', (type, boot) => {
    const mounts = imageMounts({ ...choices, partitionTableType: type });
    expect(mounts[0]).toEqual({ mountPoint: '/', role: 'root', fsType: 'ext4', uuid: 'f222513b-ded1-49fa-b591-20ce86a2fe7f', label: 'nixos' });
    expect(mounts.slice(1).map((m) => [m.mountPoint, m.role, m.label])).toEqual(boot);
    for (const m of mounts.slice(1)) expect(m.uuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
  });
  it('covers every layout', () => {
    for (const type of PARTITION_TABLE_TYPES) expect(() => imageMounts({ ...choices, partitionTableType: type })).not.toThrow();
  });
  it('deterministic ids are stable and differ between ESP and BOOT; others come from the random source', () => {
    const a = imageMounts({ ...choices, partitionTableType: 'efixbootldr' });
    expect(imageMounts({ ...choices, partitionTableType: 'efixbootldr' })).toEqual(a);
    expect(a[1]!.uuid).not.toBe(a[2]!.uuid);
    const random = imageMounts({ ...choices, rootFSUID: null, deterministic: false, partitionTableType: 'efi' }, () => Buffer.from('abcd1234', 'hex'), () => 'RANDOM-UUID');
    expect(random.map((m) => m.uuid)).toEqual(['random-uuid', 'ABCD-1234']);
    expect(imageMounts({ ...choices, rootFSUID: null, partitionTableType: 'none' })[0]!.uuid).toBe('44444444-4444-4444-8888-888888888888');
  });
  it('mountOf: the longest mount point holding a path', () => {
    const mounts = imageMounts({ ...choices, partitionTableType: 'efixbootldr' });
    expect(mountOf(mounts, '/boot/loader/entries/x.conf').role).toBe('xbootldr');
    expect(mountOf(mounts, 'efi/EFI/BOOT/BOOTX64.EFI').role).toBe('esp');
    expect(mountOf(mounts, '/bootstrap').role).toBe('root');
  });
});

describe('pinRegistrationTimesSql', () => {
  it('sets every row', () => {
    expect(pinRegistrationTimesSql(1)).toBe('PRAGMA synchronous = OFF; UPDATE ValidPaths SET registrationTime = 1;');
    expect(() => pinRegistrationTimesSql(1.5)).toThrow();
  });
});

describe('overlayWrites', () => {
  const head = { kind: 'head' as const, offsetBytes: 0, sizeBytes: 1024 * 1024 };
  it('lays boot code over the table bytes, keeping the table', () => {
    const table = Buffer.alloc(512, 0xaa);
    const out = overlayWrites(head, table, [{ offsetBytes: 0, bytes: Buffer.alloc(440, 0x11) }, { offsetBytes: 512, bytes: Buffer.from([1, 2]) }])!;
    expect(out.length).toBe(514);
    expect(out[439]).toBe(0x11);
    expect(out[440]).toBe(0xaa);
    expect([...out.subarray(512)]).toEqual([1, 2]);
  });
  it('returns the base untouched when nothing falls in the piece, and refuses writes into a filesystem', () => {
    const table = Buffer.alloc(512);
    expect(overlayWrites(head, table, [{ offsetBytes: 2 * 1024 * 1024, bytes: Buffer.alloc(1) }])).toBe(table);
    const root = { kind: 'partition' as const, offsetBytes: 1024 * 1024, sizeBytes: 1024 * 1024, role: 'root' as const, partitionNumber: 1 };
    expect(() => overlayWrites(root, null, [{ offsetBytes: 1024 * 1024, bytes: Buffer.alloc(1) }])).toThrow(/across partition 1 \(root\)/);
    const biosBoot = { ...root, role: 'bios-boot' as const };
    expect(overlayWrites(biosBoot, null, [{ offsetBytes: 1024 * 1024 + 4, bytes: Buffer.from([7]) }])).toEqual(Buffer.from([0, 0, 0, 0, 7]));
  });
});
