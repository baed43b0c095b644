import { describe, expect, it } from 'vitest';
import { closureFromInfos, derivationOutputs, formatRegistration, normalizeNarHash, parsePathInfo } from '../../src/nix/closure.js';
import { parseRegistration } from '../helpers/registration.js';

const A = '/nix/store/wd0ys9snp82b5v5j4pgp5wfhnfjhl2vm-a';
const B = '/nix/store/7adhpn10fjccdykc914hqrcg2yfilijx-b';
const B_DRV = '/nix/store/d4c5amcdrvbrwr1m53d7bwmj79v9j1aq-b.drv';
const HEX = '0b91301cf4d12dd47ae64543502d0d8d9bbf5b43a9910df5973859d33d71c04c';
const BASE32 = '0k60f4yx6n9qjzshv4d98ddvz6wd1lnm0hs5wrxd8bfiyhf3148b';
/** The same hash as Nix's `nix path-info --json` prints it (SRI). */
const SRI = 'sha256-C5EwHPTRLdR65kVDUC0NjZu/W0OpkQ31lzhZ0z1xwEw=';

describe('normalizeNarHash', () => {
  it.each([
    [HEX, `sha256:${BASE32}`],
    [`sha256:${HEX}`, `sha256:${BASE32}`],
    [`sha256:${BASE32}`, `sha256:${BASE32}`],
    [SRI, `sha256:${BASE32}`],
  ])('%s → %s', (input, expected) => {
    expect(normalizeNarHash(input)).toBe(expected);
  });

  it.each([['md5:0123'], ['sha256:short'], [''], ['sha512-C5EwHPTRLdR65kVDUC0NjZu/W0OpkQ31lzhZ0z1xwEw='], ['sha256-C5Ew']])('rejects %j', (input) => {
    expect(() => normalizeNarHash(input)).toThrow(/NAR hash/);
  });
});

describe('parsePathInfo', () => {
  const registered = [
    { path: B, narHash: `sha256:${BASE32}`, narSize: 560, deriver: B_DRV, references: [A, B].sort() },
    { path: A, narHash: `sha256:${BASE32}`, narSize: 120, deriver: null, references: [] },
  ];
  const C = '/nix/store/00000000000000000000000000000000-c';
  it.each([
    ['a list with paths (Nix 2.8)', [{ path: B, narHash: SRI, narSize: 560, references: [B, A], deriver: B_DRV, registrationTime: 5, ultimate: true }, { path: A, narHash: SRI, narSize: 120, references: [] }, { path: C, valid: false }]],
    ['an object keyed by path (Nix 2.19 on)', { [B]: { narHash: SRI, narSize: 560, references: [B, A], deriver: B_DRV }, [A]: { narHash: `sha256:${BASE32}`, narSize: 120, references: [], deriver: null }, [C]: null }],
  ])('reads %s, and which paths are not valid', (_form, json) => {
    expect(parsePathInfo(JSON.stringify(json))).toEqual({ registered, invalid: [C] });
  });

  it.each([
    ['an entry without its path', [{ narHash: SRI, narSize: 1, references: [] }], /without its store path/],
    ['a size that is no number', [{ path: A, narHash: SRI, narSize: '1', references: [] }], /malformed registration/],
  ])('explains %s', (_what, json, message) => {
    expect(() => parsePathInfo(JSON.stringify(json))).toThrow(message);
  });
});

describe('derivationOutputs', () => {
  const out = '/nix/store/0r4k9qb1cw2l5bfz8m0yw9jq8ahqcpd3-hello';
  const dev = '/nix/store/9s7j2v3bfk5h0dwsbpyk2xim4v4zw1s8-hello-dev';
  it.each([
    ['one output', `Derive([("out","${out}","","")],[],[],"x86_64-linux","/bin/sh",[],[("out","${out}")])`, [['out', out]]],
    ['two outputs', `Derive([("dev","${dev}","",""),("out","${out}","","")],[("/nix/store/a.drv",["out"])],[],"x","/bin/sh",[],[])`, [['dev', dev], ['out', out]]],
    ['a fixed-output derivation', `Derive([("out","${out}","sha256","0b91")],[],[],"x","b",[],[])`, [['out', out]]],
    ['a content-addressed output (no path yet)', `Derive([("out","","r:sha256","")],[],[],"x","b",[],[])`, []],
    ['something that is no derivation', 'not a derivation', []],
  ])('reads %s', (_what, aterm, expected) => {
    expect([...derivationOutputs(aterm)]).toEqual(expected);
  });
});

describe('parseRegistration', () => {
  it('reads the --dump-db form (base-16 hash, deriver given)', () => {
    const text = [B, HEX, '560', B_DRV, '1', A, ''].join('\n');
    expect(parseRegistration(text)).toEqual([
      { path: B, narHash: `sha256:${BASE32}`, narSize: 560, deriver: B_DRV, references: [A] },
    ]);
  });

  it('reads the closureInfo form (sha256:base-32, empty deriver) and sorts references', () => {
    const text = [B, `sha256:${BASE32}`, '560', '', '2', B, A, A, `sha256:${BASE32}`, '120', '', '0'].join('\n') + '\n';
    const infos = parseRegistration(text);
    expect(infos.map((i) => i.path)).toEqual([B, A]);
    expect(infos[0]!.references).toEqual([A, B].sort());
    expect(infos[0]!.deriver).toBeNull();
    expect(infos[1]!.references).toEqual([]);
  });

  it.each([
    ['a truncated entry', [A, HEX, '120'].join('\n'), /ends early: expected the deriver/],
    ['a bad size', [A, HEX, 'big', '', '0'].join('\n'), /bad NAR size `big`/],
    ['a bad count', [A, HEX, '1', '', 'x'].join('\n'), /bad reference count `x`/],
    ['missing references', [A, HEX, '1', '', '2', B].join('\n'), /expected a reference of/],
    ['a line that is no path', ['nix/store/x', HEX, '1', '', '0'].join('\n'), /expected a store path/],
  ])('explains %s', (_what, text, message) => {
    expect(() => parseRegistration(text)).toThrow(message);
  });

  it('reads an empty registration as no paths', () => {
    expect(parseRegistration('')).toEqual([]);
  });
});

describe('formatRegistration', () => {
  it('writes closureInfo lines that parse back to the same closure', () => {
    const infos = [
      { path: B, narHash: `sha256:${BASE32}`, narSize: 560, deriver: B_DRV, references: [A] },
      { path: A, narHash: `sha256:${BASE32}`, narSize: 120, deriver: null, references: [] },
    ];
    const text = formatRegistration(infos);
    expect(text).toBe([B, `sha256:${BASE32}`, '560', '', '1', A, A, `sha256:${BASE32}`, '120', '', '0'].join('\n') + '\n');
    expect(parseRegistration(text)).toEqual(infos.map((i) => ({ ...i, deriver: null })));
  });
});

describe('closureFromInfos', () => {
  it('sorts by path and adds up the NAR sizes', () => {
    const closure = closureFromInfos([
      { path: B, narHash: `sha256:${BASE32}`, narSize: 560, deriver: null, references: [] },
      { path: A, narHash: `sha256:${BASE32}`, narSize: 120, deriver: null, references: [] },
    ]);
    expect(closure.paths.map((p) => p.path)).toEqual([B, A].sort());
    expect(closure.totalNarSize).toBe(680);
  });
});
