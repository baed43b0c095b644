/**
 * The root of a full NixOS image (onlyNixStore = false), staged as nixos-install
 * leaves it in nixpkgs' build folder (FACTS §6.1–6.2, §6.4), without running the
 * system: activation does not run here; the image's first boot runs it (stage 2),
 * which creates /etc's generated files, /var, users and groups.
 *
 * Everything a user can get wrong is checked by `checkSystem` before any output
 * exists; `stageSystem` then writes the small staged tree. The store paths themselves
 * are not staged: the filesystem reads them in place under `nix/store`.
 */
import { copyFile, chmod, lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImageOptions } from '../../options.js';
import { checkContents, copyContents, planContents, type PlannedContents } from './contents.js';
import { systemSkeleton, writeSkeleton } from './profiles.js';
import { idMapFile, ownerId, resolveIds, type ResolvedIds, type UserSpec } from './users.js';

/** What evaluation knows about the system besides the options. */
export interface SystemInputs {
  /** config.system.build.toplevel, realised; null when the config has none. */
  toplevel: string | null;
  /** The channel's store path (copyChannel), realised. */
  channel: string | null;
  /** What `pkgs`/`lib` lacked to build the channel, when copyChannel. */
  channelMissing: string[] | null;
  /** `config` as nixlib/serialize-args.nix serializes it. */
  config: Record<string, unknown>;
}

export class SystemError extends Error {
  override name = 'SystemError';
}

export interface CheckedSystem {
  toplevel: string;
  channel: string | null;
  contents: PlannedContents[];
  ids: ResolvedIds | null;
  spec: UserSpec | null;
}

/** The user spec serialize-args.nix gives, or null when the config declares no users (not NixOS). */
export function userSpecOf(config: Record<string, unknown>): UserSpec | null {
  const users = config.users as Record<string, { uid: number | null; isSystemUser: boolean }> | null | undefined;
  const groups = config.groups as Record<string, { gid: number | null }> | null | undefined;
  if (!users && !groups) return null;
  return {
    users: Object.fromEntries(Object.entries(users ?? {}).map(([name, u]) => [name, { uid: u.uid ?? null, isSystemUser: u.isSystemUser === true }])),
    groups: Object.fromEntries(Object.entries(groups ?? {}).map(([name, g]) => [name, { gid: g.gid ?? null }])),
    allocator: config.userbornEnable === true ? 'userborn' : config.sysusersEnable === true ? 'systemd-sysusers' : 'update-users-groups',
  };
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

/** Every input a full image needs, checked before anything is written. */
export async function checkSystem(options: ImageOptions, inputs: SystemInputs, canSetOwners: boolean): Promise<CheckedSystem> {
  const { toplevel } = inputs;
  if (toplevel === null) {
    throw new SystemError('a full NixOS image (onlyNixStore = false) needs config.system.build.toplevel, and this config has none; pass a NixOS configuration, or set onlyNixStore = true');
  }
  if (!(await stat(toplevel).catch(() => null))?.isDirectory()) throw new SystemError(`config.system.build.toplevel ${toplevel} is not a directory in the store`);
  if (options.installBootLoader && !(await exists(path.join(toplevel, 'boot.json')))) {
    throw new SystemError(
      `the system ${toplevel} has no bootspec (boot.json), which nixdisk reads to install a boot loader; ` +
        'use a NixOS release that writes one (boot.bootspec.enable), or set installBootLoader = false',
    );
  }
  if (options.copyChannel && inputs.channelMissing) {
    throw new SystemError(
      `copyChannel is true, but the channel is built from nixpkgs and ${inputs.channelMissing.join(', ')} ${inputs.channelMissing.length === 1 ? 'is' : 'are'} missing from the arguments; ` +
        'pass nixpkgs as pkgs and lib, or set copyChannel = false',
    );
  }
  if (options.copyChannel && inputs.channel === null) throw new SystemError('copyChannel is true, but evaluation gave no channel');
  if (options.configFile !== null && !(await stat(options.configFile).catch(() => null))?.isFile()) {
    throw new SystemError(`configFile ${options.configFile} is not a file`);
  }
  checkContents(options.contents);
  const spec = userSpecOf(inputs.config);
  const ids = spec ? resolveIds(spec) : null;
  const contents = await planContents(options.contents);
  for (const entry of contents) {
    if (!entry.owner) continue;
    const where = `contents entry ${entry.index} (target "/${entry.target}")`;
    if (!canSetOwners) throw new SystemError(`${where}: fsType "${options.fsType}" cannot be given owners by nixdisk; user and group need ext4`);
    const known = ids ?? { uids: new Map(), gids: new Map(), allocated: new Set<string>() };
    const knownSpec = spec ?? { users: {}, groups: {}, allocator: 'update-users-groups' as const };
    ownerId('user', entry.owner.user, known, knownSpec, where);
    ownerId('group', entry.owner.group, known, knownSpec, where);
  }
  return { toplevel, channel: options.copyChannel ? inputs.channel : null, contents, ids, spec };
}

/** Ownership of image paths (a path and everything under it), later entries winning, as nixpkgs' chown loop. */
export interface OwnedPath {
  path: string;
  uid: number;
  gid: number;
}

/**
 * Writes the staged root into `rootDir` (which exists and is empty): contents first,
 * as nixpkgs copies them before nixos-install, then the skeleton, configuration.nix and
 * the uid/gid maps. The Nix database is made beside it (nix-db.ts): its tools run while
 * this and the tree scan go on.
 */
export async function stageSystem(checked: CheckedSystem, options: ImageOptions, rootDir: string): Promise<OwnedPath[]> {
  const named = await copyContents(checked.contents, rootDir);
  await writeSkeleton(systemSkeleton({ toplevel: checked.toplevel, channel: checked.channel }), rootDir);
  if (options.configFile !== null) {
    const target = path.join(rootDir, 'etc/nixos/configuration.nix');
    await copyFile(options.configFile, target);
    // cp as nixpkgs runs it: the source's permission bits under umask 0022.
    await chmod(target, (await stat(options.configFile)).mode & 0o755);
  }
  if (checked.ids) {
    const dir = path.join(rootDir, 'var/lib/nixos');
    for (const parent of ['var', 'var/lib', 'var/lib/nixos']) {
      if ((await mkdir(path.join(rootDir, parent), { recursive: true })) !== undefined) await chmod(path.join(rootDir, parent), 0o755);
    }
    for (const [name, ids] of [['uid-map', checked.ids.uids], ['gid-map', checked.ids.gids]] as const) {
      await writeFile(path.join(dir, name), idMapFile(ids));
      await chmod(path.join(dir, name), 0o644);
    }
  }
  const ids = checked.ids ?? { uids: new Map(), gids: new Map(), allocated: new Set<string>() };
  const spec = checked.spec ?? { users: {}, groups: {}, allocator: 'update-users-groups' as const };
  return named.map((owner) => ({
    path: owner.path,
    uid: ownerId('user', owner.user, ids, spec, owner.path),
    gid: ownerId('group', owner.group, ids, spec, owner.path),
  }));
}

/** The owner an image path ends up with, or undefined for root's; pure. */
export function ownerOf(owned: readonly OwnedPath[], imagePath: string): { uid: number; gid: number } | undefined {
  let found: OwnedPath | undefined;
  for (const entry of owned) {
    if (entry.path === '' || imagePath === entry.path || imagePath.startsWith(`${entry.path}/`)) found = entry;
  }
  return found && { uid: found.uid, gid: found.gid };
}
