import { describe, expect, it } from 'vitest';
import { idMapFile, ownerId, resolveIds, UnknownOwnerError, type UserSpec } from '../../../src/image/system/users.js';

const spec = (users: UserSpec['users'], groups: UserSpec['groups'], allocator: UserSpec['allocator'] = 'update-users-groups'): UserSpec => ({ users, groups, allocator });

describe('resolveIds: update-users-groups.pl on a first activation', () => {
  it.each([
    {
      name: 'declared ids as they are',
      spec: spec({ root: { uid: 0, isSystemUser: true } }, { root: { gid: 0 } }),
      uids: { root: 0 },
      gids: { root: 0 },
    },
    {
      name: 'groups from 999 down in name order, skipping declared gids',
      spec: spec({}, { b: { gid: null }, a: { gid: null }, taken: { gid: 999 } }),
      uids: {},
      gids: { a: 998, b: 997, taken: 999 },
    },
    {
      name: 'system users from 999 down, normal users from 1000 up, in name order',
      spec: spec(
        { zed: { uid: null, isSystemUser: false }, amy: { uid: null, isSystemUser: false }, sshd: { uid: null, isSystemUser: true }, fixed: { uid: 1000, isSystemUser: false } },
        {},
      ),
      uids: { amy: 1001, fixed: 1000, sshd: 999, zed: 1002 },
      gids: {},
    },
    {
      name: 'byte order, not locale order (uppercase first)',
      spec: spec({ b: { uid: null, isSystemUser: true }, B: { uid: null, isSystemUser: true } }, {}),
      uids: { B: 999, b: 998 },
      gids: {},
    },
  ])('$name', ({ spec: s, uids, gids }) => {
    const ids = resolveIds(s);
    expect(Object.fromEntries(ids.uids)).toEqual(uids);
    expect(Object.fromEntries(ids.gids)).toEqual(gids);
  });

  it('fails as the perl script does when the range is full', () => {
    const groups = Object.fromEntries(Array.from({ length: 601 }, (_, i) => [`g${i}`, { gid: null }]));
    expect(() => resolveIds(spec({}, groups))).toThrow(/no free GID between 400 and 999/);
  });
});

describe('idMapFile', () => {
  it('is compact JSON with sorted keys and no newline', () => {
    expect(idMapFile(new Map([['sshd', 999], ['alice', 1000], ['Root', 0]]))).toBe('{"Root":0,"alice":1000,"sshd":999}');
    expect(idMapFile(new Map())).toBe('{}');
  });
});

describe('ownerId', () => {
  const s = spec({ alice: { uid: null, isSystemUser: false }, bob: { uid: 1500, isSystemUser: false } }, { users: { gid: 100 }, dyn: { gid: null } });
  const ids = resolveIds(s);
  it.each([
    ['user', 'alice', 1000],
    ['user', 'bob', 1500],
    ['user', '4242', 4242],
    ['group', 'users', 100],
    ['group', 'dyn', 999],
    ['group', '0', 0],
  ] as const)('%s %s → %i', (kind, name, id) => {
    expect(ownerId(kind, name, ids, s, 'here')).toBe(id);
  });
  it('refuses a name the configuration does not declare, naming the option', () => {
    expect(() => ownerId('user', 'mallory', ids, s, 'contents entry 1')).toThrow(/contents entry 1: user "mallory" is not declared in the configuration \(users\.users\.mallory\)/);
    expect(() => ownerId('group', 'staff', ids, s, 'x')).toThrow(UnknownOwnerError);
  });
  it('under systemd-sysusers or userborn, accepts only declared ids', () => {
    const sysusers = { ...s, allocator: 'systemd-sysusers' as const };
    expect(ownerId('user', 'bob', ids, sysusers, 'x')).toBe(1500);
    expect(() => ownerId('user', 'alice', ids, sysusers, 'x')).toThrow(/systemd-sysusers allocates it at boot.*users\.users\.alice\.uid/);
  });
});
