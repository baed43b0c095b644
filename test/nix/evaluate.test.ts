import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { evaluateCallSite, NIXLIB_DIR, NixEvaluationError, type EvaluateRequest } from '../../src/nix/evaluate.js';
import { installablesOf } from '../../src/nix/serialized.js';
import { PACKAGE_ROOT } from '../../src/package.js';

const FIXTURES = path.join(PACKAGE_ROOT, 'test', 'nix', 'fixtures');
const EXAMPLES = path.join(PACKAGE_ROOT, 'examples');

function request(file: string, more: Partial<EvaluateRequest> = {}): EvaluateRequest {
  return { file, args: [], argstrs: [], includes: [], ...more };
}

async function evaluate(file: string, more: Partial<EvaluateRequest> = {}) {
  return (await evaluateCallSite(request(file, more))).args;
}

async function evaluationError(file: string, more: Partial<EvaluateRequest> = {}): Promise<NixEvaluationError> {
  const error = await evaluateCallSite(request(file, more)).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(NixEvaluationError);
  return error as NixEvaluationError;
}

const callForms = path.join(FIXTURES, 'call-forms.nix');

describe('evaluateCallSite: how a file reaches make-disk-image', () => {
  it.each([
    ['direct', { format: 'qcow2' }],
    ['viaLet', { diskSize: 64 }],
    ['relativeMissing', { name: 'relative' }],
    ['viaBuiltins', { name: 'builtins' }],
    ['viaScopedImport', { name: 'scoped' }],
    ['viaCallPackage', { name: 'callPackage' }],
    ['inNestedFile', { name: 'from-nested-file' }],
    ['nested.deeper.image', { diskSize: 64 }],
    ['inList.1', { format: 'qcow2' }],
  ])('-A %s', async (attr, expected) => {
    const call = await evaluate(callForms, { attr });
    expect(call.arguments).toMatchObject({ onlyNixStore: true, installBootLoader: false, ...expected });
    expect(call.arguments).not.toHaveProperty('pkgs');
    expect(call.arguments).not.toHaveProperty('lib');
    expect(call.unknownArguments).toEqual({});
  });

  it('resolves a relative file against cwd', async () => {
    const call = await evaluate('call-forms.nix', { attr: 'direct', cwd: FIXTURES });
    expect(call.arguments.format).toBe('qcow2');
  });

  it('serializes derivations, strings with context, paths, functions and unknown names', async () => {
    const call = await evaluate(callForms, { attr: 'values' });
    const [drv, str, file] = call.arguments.additionalPaths as [
      { $drv: string; $out: string; $output: string },
      { $string: string; $context: string[] },
      { $path: string },
    ];
    expect(drv.$drv).toMatch(/^\/nix\/store\/[0-9a-z]{32}-hello\.drv$/);
    expect(drv.$out).toMatch(/^\/nix\/store\/[0-9a-z]{32}-hello$/);
    expect(drv.$output).toBe('out');
    // --read-write-mode: the .drv exists afterwards, ready to be realised.
    expect(existsSync(drv.$drv)).toBe(true);
    expect(str).toEqual({ $string: `${drv.$out}/greeting`, $context: [`${drv.$drv}!out`] });
    expect(file).toEqual({ $path: callForms });
    expect(call.arguments.contents).toEqual([
      { source: drv, target: '/etc/hello', mode: '0644', user: 'root', group: 'root' },
    ]);
    expect(call.arguments).toMatchObject({ postVM: 'echo done', label: 'store', deterministic: false });
    expect(call.arguments.config).toMatchObject({ toplevel: null, nixosVersion: null, grubEnable: null });
    expect(call.unknownArguments).toEqual({
      fsTpye: 'ext4',
      nixpkgs: { $attrs: ['hello'] },
      extra: { $function: true },
    });
    expect(installablesOf(call.arguments)).toEqual([`${drv.$drv}!out`]);
  });

  it('keeps the selected output of a multi-output derivation', async () => {
    const call = await evaluate(callForms, { attr: 'multiOutput' });
    const [doc] = call.arguments.additionalPaths as [{ $drv: string; $out: string; $output: string }];
    expect(doc.$output).toBe('doc');
    expect(doc.$out).toMatch(/-two-outputs-doc$/);
    expect(installablesOf(call.arguments)).toEqual([`${doc.$drv}!doc`]);
  });

  it('cuts a set that contains itself off at a fixed depth', async () => {
    const call = await evaluate(callForms, { attr: 'cyclic' });
    let entry = (call.arguments.contents as Record<string, unknown>[])[0]!;
    expect(entry).toMatchObject({ source: '/etc/hosts', target: '/hosts' });
    let depth = 0;
    while (entry.again && !('$truncated' in (entry.again as object))) {
      entry = entry.again as Record<string, unknown>;
      depth++;
    }
    expect(entry.again).toEqual({ $truncated: true });
    expect(depth).toBe(31);
  });

  it('reduces a NixOS-like config to the options nixdisk reads', async () => {
    const call = await evaluate(path.join(FIXTURES, 'nixos-config.nix'));
    const config = call.arguments.config!;
    expect(config.toplevel).toMatchObject({ $drv: expect.stringMatching(/-nixos-system-test\.drv$/), $output: 'out' });
    expect(config).toMatchObject({
      nixosVersion: '25.05pre-test',
      nixosVersionSuffix: null,
      grubEnable: false,
      systemdBootEnable: true,
      // A throwing option reads as null rather than failing the whole evaluation.
      grubDevices: null,
    });
  });
});

describe('evaluateCallSite: the attribute must be a make-disk-image call', () => {
  it.each([
    ['imagePath', /attribute `imagePath` of .*call-forms\.nix is not a make-disk-image call \(it is a string made from a make-disk-image result; point -A at the make-disk-image call itself\)/],
    ['interpolated', /it is a string made from a make-disk-image result/],
    ['notACall', /attribute `notACall` of .* is not a make-disk-image call \(it is a string\)/],
    ['aDerivation', /is not a make-disk-image call \(it is a derivation \(hello\)\)/],
    ['nested', /attribute `nested` of .* is not a make-disk-image call \(it is a set\)$/m],
  ])('-A %s', async (attr, message) => {
    expect((await evaluationError(callForms, { attr })).message).toMatch(message);
  });

  it('names the calls a set holds when -A is missing', async () => {
    const error = await evaluationError(callForms);
    expect(error.message).toMatch(/call-forms\.nix is not a make-disk-image call \(it is a set\); it holds make-disk-image calls at: cyclic, direct, inNestedFile, multiOutput, relativeMissing, values, viaBuiltins, viaCallPackage, viaLet, viaScopedImport \(choose one with -A\)/);
  });

  it('lists the attributes there are when -A names a missing one', async () => {
    const error = await evaluationError(callForms, { attr: 'nested.deepr.image' });
    expect(error.message).toMatch(/error: attribute `nested\.deepr` of .*call-forms\.nix does not exist; attribute `nested` of .* has: deeper/);
  });

  it('explains a list index out of range and selecting into a string', async () => {
    expect((await evaluationError(callForms, { attr: 'inList.5' })).message).toMatch(/`inList` of .* is a list of length 2, so it has no element 5/);
    expect((await evaluationError(callForms, { attr: 'notACall.x' })).message).toMatch(/`notACall` of .* is a string, so it has no attribute `x`/);
  });
});

describe('evaluateCallSite: --arg, --argstr and -I', () => {
  const functionFile = path.join(FIXTURES, 'function-file.nix');

  it('calls a function file with --argstr and --arg, keeping defaults', async () => {
    const call = await evaluate(functionFile, {
      argstrs: [{ name: 'label', value: 'data' }],
      args: [{ name: 'diskSize', expr: '16 * 4' }],
    });
    expect(call.arguments).toMatchObject({ label: 'data', diskSize: 64, format: 'raw' });
  });

  it('passes --arg expressions to Nix, relative paths against cwd', async () => {
    const call = await evaluate(functionFile, { args: [{ name: 'label', expr: 'builtins.baseNameOf ./.' }], cwd: FIXTURES });
    expect(call.arguments.label).toBe('fixtures');
  });

  it('says which argument a function file is missing', async () => {
    const error = await evaluationError(functionFile);
    expect(error.message).toMatch(/function-file\.nix is a function whose argument `label` has no default; pass it with `--arg label EXPR` or `--argstr label STRING`/);
  });

  const fakeNixpkgs = path.join(FIXTURES, 'fake-nixpkgs');

  it('lets a nixpkgs given with -I win over the stand-in', async () => {
    const call = await evaluate(path.join(FIXTURES, 'uses-nixpkgs.nix'), { includes: [`nixpkgs=${fakeNixpkgs}`] });
    expect(call.arguments.label).toBe('from-include');
  });

  it("intercepts pkgs.callPackage of make-disk-image.nix inside an imported nixpkgs", async () => {
    const call = await evaluate(path.join(FIXTURES, 'call-package.nix'), { includes: [`nixpkgs=${fakeNixpkgs}`] });
    // callPackage filled pkgs and lib from functionArgs; they are dropped as always.
    expect(call.arguments).toEqual({ config: expect.objectContaining({ toplevel: null }), format: 'vpc', label: 'from-include' });
  });

  it('explains the stand-in <nixpkgs> when a file needs the real one', async () => {
    const error = await evaluationError(path.join(FIXTURES, 'uses-nixpkgs.nix'), { includes: [] });
    expect(error.message).toMatch(/<nixpkgs> resolved to nixdisk's stand-in, which only provides nixos\/lib\/make-disk-image\.nix; .*pass -I nixpkgs=/);
  });
});

describe('evaluateCallSite: Nix errors reach the user', () => {
  it("shows Nix's message and location for a mistake in the file", async () => {
    const error = await evaluationError(path.join(FIXTURES, 'broken.nix'));
    expect(error.message).toContain("error: attribute 'fromat' missing");
    expect(error.message).toMatch(/at .*broken\.nix:8:\d+:/);
    expect(error.message).toContain('format = settings.fromat;');
    expect(error.message).not.toContain('--show-trace');
  });

  it('reports a syntax error with its position', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nixdisk-eval-'));
    try {
      writeFileSync(path.join(dir, 'syntax.nix'), '{ x = ;\n');
      const error = await evaluationError(path.join(dir, 'syntax.nix'));
      expect(error.message).toMatch(/error: syntax error, unexpected ';'/);
      expect(error.message).toMatch(/syntax\.nix:1:7/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing file', async () => {
    const error = await evaluationError(path.join(FIXTURES, 'no-such-file.nix'));
    expect(error.message).toMatch(/no-such-file\.nix/);
    expect(error.message).toMatch(/No such file or directory/);
  });
});

describe('evaluateCallSite: the examples', () => {
  it('examples/store-only.nix is a store-only qcow2 call of two paths', async () => {
    const call = await evaluate(path.join(EXAMPLES, 'store-only.nix'));
    expect(call.arguments).toMatchObject({
      onlyNixStore: true,
      installBootLoader: false,
      copyChannel: false,
      format: 'qcow2',
      partitionTableType: 'none',
      additionalSpace: '0M',
    });
    // The launcher is built from its .drv; motd (builtins.toFile) is already a store path.
    const installables = installablesOf(call.arguments);
    expect(installables).toHaveLength(2);
    expect(installables).toEqual(
      expect.arrayContaining([expect.stringMatching(/-launcher\.drv!out$/), expect.stringMatching(/^\/nix\/store\/[0-9a-z]{32}-motd$/)]),
    );
    expect(call.arguments.additionalPaths).toEqual([
      expect.objectContaining({ $drv: expect.stringMatching(/-launcher\.drv$/) }),
      { $string: expect.stringMatching(/^\/nix\/store\/[0-9a-z]{32}-motd$/), $context: [expect.stringMatching(/-motd$/)] },
    ]);
    expect(call.unknownArguments).toEqual({});
  });

  it('examples/efi-raw.nix is an efi raw call with a fixed root GUID', async () => {
    const call = await evaluate(path.join(EXAMPLES, 'efi-raw.nix'));
    expect(call.arguments).toMatchObject({
      partitionTableType: 'efi',
      format: 'raw',
      rootGPUID: '0A5EB2C4-6D7F-4B8E-9C1A-2B3C4D5E6F70',
      bootSize: '64M',
      name: 'efi-store-image',
    });
  });

  it('examples/fixed-size.nix asks for 64 MiB', async () => {
    const call = await evaluate(path.join(EXAMPLES, 'fixed-size.nix'));
    expect(call.arguments).toMatchObject({ diskSize: 64, format: 'vdi', partitionTableType: 'legacy', baseName: 'store' });
  });

  it.each([
    ['images.small', [], { format: 'raw', label: 'nix-store', additionalSpace: '16M' }],
    ['images.compressed', [{ name: 'label', value: 'data' }], { format: 'qcow2-compressed', label: 'data' }],
  ])('examples/images.nix -A %s', async (attr, argstrs, expected) => {
    const call = await evaluate(path.join(EXAMPLES, 'images.nix'), { attr, argstrs });
    expect(call.arguments).toMatchObject(expected);
  });

  it('examples/images.nix without -A names both images', async () => {
    const error = await evaluationError(path.join(EXAMPLES, 'images.nix'));
    expect(error.message).toMatch(/it is a set\)/);
    const nested = await evaluationError(path.join(EXAMPLES, 'images.nix'), { attr: 'images' });
    expect(nested.message).toMatch(/holds make-disk-image calls at: compressed, small/);
  });
});

describe("nixlib's stand-in nixpkgs outside nixdisk", () => {
  it('explains itself when plain Nix calls its make-disk-image.nix', () => {
    const result = spawnSync(
      'nix-instantiate',
      ['--eval', '--strict', '-I', `nixpkgs=${path.join(NIXLIB_DIR, 'nixpkgs')}`, path.join(EXAMPLES, 'store-only.nix'), '-A', 'outPath'],
      { encoding: 'utf8' },
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/nixdisk's stand-in for <nixpkgs\/nixos\/lib\/make-disk-image\.nix>.*Build this file with `nixdisk build`/s);
  });
});
