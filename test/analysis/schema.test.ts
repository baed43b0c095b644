import { describe, expect, it } from 'vitest';
import { argumentsFromJson, valueFromJson, valueToJson } from '../../src/analysis/from-json.js';
import { checkArguments } from '../../src/analysis/analyze.js';
import { applyDefaults, ARGUMENTS } from '../../src/analysis/schema.js';
import { OptionError, toImageOptions } from '../../src/analysis/to-options.js';
import { NO_RANGE } from '../../src/syntax/range.js';

const REQUIRED = { pkgs: { $dynamic: 'the package set' }, lib: { $dynamic: 'lib' }, config: { $dynamic: 'config' } };

function resolve(json: Record<string, unknown>) {
  return applyDefaults(argumentsFromJson({ ...REQUIRED, ...json }, NO_RANGE), NO_RANGE);
}

function valueOf(json: Record<string, unknown>, name: string): unknown {
  return valueToJson(resolve(json).get(name)!.value);
}

describe('schema', () => {
  it('lists every make-disk-image argument once, in nixpkgs header order', () => {
    const names = ARGUMENTS.map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual([
      'pkgs', 'lib', 'config', 'diskSize', 'additionalSpace', 'bootSize', 'contents', 'partitionTableType',
      'installBootLoader', 'touchEFIVars', 'OVMF', 'efiFirmware', 'efiVariables', 'fsType', 'label', 'configFile',
      'postVM', 'memSize', 'onlyNixStore', 'name', 'format', 'baseName', 'deterministic', 'rootGPUID', 'rootFSUID',
      'copyChannel', 'additionalPaths',
    ]);
    for (const spec of ARGUMENTS) expect(spec.doc.length).toBeGreaterThan(10);
  });

  it.each([
    [{}, 'diskSize', 'auto'],
    [{}, 'additionalSpace', '512M'],
    [{}, 'bootSize', '256M'],
    [{}, 'partitionTableType', 'legacy'],
    [{}, 'format', 'raw'],
    [{}, 'baseName', 'nixos'],
    [{}, 'name', 'nixos-disk-image'],
    [{}, 'memSize', 1024],
    [{}, 'label', 'nixos'],
    [{ onlyNixStore: true }, 'label', 'nix-store'],
    [{ onlyNixStore: { $dynamic: 'x' } }, 'label', { $dynamic: 'defaults to "nix-store" or "nixos" depending on onlyNixStore, which is not known' }],
    [{}, 'rootFSUID', 'F222513B-DED1-49FA-B591-20CE86A2FE7F'],
    [{ rootGPUID: '11111111-2222-4333-8444-555555555555' }, 'rootFSUID', '11111111-2222-4333-8444-555555555555'],
    [{ fsType: 'btrfs' }, 'rootFSUID', null],
    [{ label: 'mine' }, 'label', 'mine'],
  ])('with %j, %s is %j', (json, name, expected) => {
    expect(valueOf(json, name)).toEqual(expected);
  });

  it('marks which values are defaults', () => {
    const args = resolve({ format: 'qcow2' });
    expect(args.get('format')!.isDefault).toBe(false);
    expect(args.get('fsType')!.isDefault).toBe(true);
    expect(args.has('unknownThing')).toBe(false);
  });

  it('keeps the firmware defaults dynamic: only Nix knows pkgs.OVMF', () => {
    expect(resolve({}).get('efiVariables')!.value.kind).toBe('dynamic');
  });
});

describe('from JSON (the Nix-evaluated build path)', () => {
  it('converts every JSON shape and keeps $dynamic markers', () => {
    const v = valueFromJson({ a: [1, 1.5, 'x', true, null], b: { $dynamic: 'why' } }, NO_RANGE);
    expect(valueToJson(v)).toEqual({ a: [1, 1.5, 'x', true, null], b: { $dynamic: 'why' } });
    expect(v.kind === 'attrs' && v.attrs.get('a')!.value.kind).toBe('list');
  });

  it('runs the same rules as the static checker', () => {
    const given = argumentsFromJson({ ...REQUIRED, onlyNixStore: true, bootSize: '1GB' }, NO_RANGE);
    const { diagnostics } = checkArguments(given, NO_RANGE, NO_RANGE);
    expect(diagnostics.map((d) => d.code).sort()).toEqual(['invalid-size', 'no-effect', 'only-nix-store-conflict']);
  });
});

describe('toImageOptions', () => {
  it('types a fully known call with defaults', () => {
    const options = toImageOptions(
      resolve({ partitionTableType: 'efi', diskSize: '2048', contents: [{ source: '/nix/store/x', target: '/etc/x', mode: '0644' }] }),
    );
    expect(options).toMatchObject({
      partitionTableType: 'efi',
      diskSize: 2048,
      contents: [{ source: '/nix/store/x', target: '/etc/x', mode: '0644' }],
      rootFSUID: 'F222513B-DED1-49FA-B591-20CE86A2FE7F',
      label: 'nixos',
      efiFirmware: null,
      efiVariables: null,
    });
  });

  it.each([
    [{ format: { $dynamic: 'from an option' } }, 'format', /not known \(from an option\)/],
    [{ diskSize: '4G' }, 'diskSize', /"auto" or a positive number of MiB/],
    [{ partitionTableType: 'gpt' }, 'partitionTableType', /"gpt" is not one of/],
    [{ installBootLoader: 'yes' }, 'installBootLoader', /must be a boolean, not the string "yes"/],
    [{ contents: [{ target: '/x' }] }, 'contents', /entry 1 has no source/],
    [{ touchEFIVars: true, partitionTableType: 'efi' }, 'efiVariables', /not known/],
  ])('with %j fails naming %s', (json, name, message) => {
    let caught: unknown;
    try {
      toImageOptions(resolve(json));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OptionError);
    expect((caught as OptionError).argument).toBe(name);
    expect((caught as OptionError).message).toMatch(message);
  });
});
