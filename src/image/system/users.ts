/**
 * User and group ids as the image's first activation will settle them (FACTS §6.7), so
 * `contents` can be chowned without running activation: declared ids as they are, the
 * others allocated the way nixpkgs' update-users-groups.pl allocates them on a system
 * with no /etc/passwd yet, walking the spec in attribute-name order, groups first.
 * The maps it writes (`/var/lib/nixos/uid-map`, `gid-map`) are shipped in the image,
 * so that activation revives every name with the id its files were given here.
 */

export interface DeclaredUser {
  uid: number | null;
  isSystemUser: boolean;
}

export interface UserSpec {
  users: Readonly<Record<string, DeclaredUser>>;
  groups: Readonly<Record<string, { gid: number | null }>>;
  /**
   * Another tool than update-users-groups.pl creates the accounts (systemd-sysusers,
   * userborn): its allocation was not read, so only declared ids can be predicted.
   */
  allocator: 'update-users-groups' | 'systemd-sysusers' | 'userborn';
}

export interface ResolvedIds {
  uids: ReadonlyMap<string, number>;
  gids: ReadonlyMap<string, number>;
  /** Names whose id was not declared, for the error that refuses them under another allocator. */
  allocated: ReadonlySet<string>;
}

const SYSTEM_RANGE = { min: 400, max: 999, up: false } as const;
const NORMAL_RANGE = { min: 1000, max: 29999, up: true } as const;

/** Attribute-name order, as Nix sorts a set's names (bytes, not locale). */
function attributeOrder(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function allocate(used: Set<number>, range: { min: number; max: number; up: boolean }, what: string): number {
  for (let id = range.up ? range.min : range.max; id >= range.min && id <= range.max; id += range.up ? 1 : -1) {
    if (!used.has(id)) {
      used.add(id);
      return id;
    }
  }
  throw new Error(`no free ${what} between ${range.min} and ${range.max}: update-users-groups.pl would fail too`);
}

/** Every declared user's uid and group's gid after a first activation; pure. */
export function resolveIds(spec: UserSpec): ResolvedIds {
  const groupNames = attributeOrder(Object.keys(spec.groups));
  const userNames = attributeOrder(Object.keys(spec.users));
  const gidsUsed = new Set(groupNames.flatMap((name) => (spec.groups[name]!.gid === null ? [] : [spec.groups[name]!.gid!])));
  const uidsUsed = new Set(userNames.flatMap((name) => (spec.users[name]!.uid === null ? [] : [spec.users[name]!.uid!])));
  const gids = new Map<string, number>();
  const uids = new Map<string, number>();
  const allocated = new Set<string>();
  for (const name of groupNames) {
    const declared = spec.groups[name]!.gid;
    if (declared === null) allocated.add(`group ${name}`);
    gids.set(name, declared ?? allocate(gidsUsed, SYSTEM_RANGE, 'GID'));
  }
  for (const name of userNames) {
    const user = spec.users[name]!;
    if (user.uid === null) allocated.add(`user ${name}`);
    uids.set(name, user.uid ?? allocate(uidsUsed, user.isSystemUser ? SYSTEM_RANGE : NORMAL_RANGE, 'UID'));
  }
  return { uids, gids, allocated };
}

/** A map file's bytes as update-users-groups.pl writes it: compact JSON, keys sorted, no newline. */
export function idMapFile(ids: ReadonlyMap<string, number>): string {
  const entries = attributeOrder(ids.keys()).map((name) => `${JSON.stringify(name)}:${ids.get(name)}`);
  return `{${entries.join(',')}}`;
}

export class UnknownOwnerError extends Error {
  override name = 'UnknownOwnerError';
}

/**
 * The numeric id `chown` would use for `name` in the booted image: digits as they are,
 * else the resolved id. Throws naming the entry when the configuration declares no such
 * user or group, or when its id depends on an allocator nixdisk cannot predict.
 */
export function ownerId(kind: 'user' | 'group', name: string, ids: ResolvedIds, spec: UserSpec, where: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const id = (kind === 'user' ? ids.uids : ids.gids).get(name);
  if (id === undefined) {
    const declared = kind === 'user' ? 'users.users' : 'users.groups';
    throw new UnknownOwnerError(`${where}: ${kind} "${name}" is not declared in the configuration (${declared}.${name}); nixpkgs' chown would fail on it`);
  }
  if (spec.allocator !== 'update-users-groups' && ids.allocated.has(`${kind} ${name}`)) {
    throw new UnknownOwnerError(
      `${where}: ${kind} "${name}" has no declared ${kind === 'user' ? 'uid' : 'gid'}, and ${spec.allocator} allocates it at boot in a way nixdisk does not predict; ` +
        `declare ${kind === 'user' ? `users.users.${name}.uid` : `users.groups.${name}.gid`} or use a numeric id`,
    );
  }
  return id;
}
