/**
 * The `nixdisk build` command line: its options reach Nix and the pipeline, --json is
 * one JSON object per line from the first step to `done` (or the error), and piped
 * output carries no terminal escapes. Real Nix and real tools throughout.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../../src/analysis/analyze.js';
import { checkEvaluatedArguments, evaluatedCallSite } from '../../src/build.js';
import type { SerializedCall } from '../../src/nix/serialized.js';
import { FIXTURE_CLOSURE, writeCall } from '../helpers/build-fixture.js';
import { caseFolder, expectNoStackTrace, expectNothingLeft, nixdisk } from '../integration/fixtures/cli.js';

const MiB = 1024 * 1024;
const ESCAPE = '\u001b';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-cli-build-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function qemuInfo(image: string): Promise<{ format: string; 'virtual-size': number; 'format-specific'?: { data?: Record<string, unknown> } }> {
  return JSON.parse((await execa('qemu-img', ['info', '--output=json', image])).stdout);
}

function jsonLines(text: string): Record<string, unknown>[] {
  const lines = text.split('\n').filter((line) => line !== '');
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`not a JSON line: ${line}`);
    }
  });
}

describe('nixdisk build --help', () => {
  it('lists every option', async () => {
    const run = await nixdisk(['build', '--help'], { cwd: dir });
    expect(run.code).toBe(0);
    for (const option of ['-A, --attr', '--arg', '--argstr', '-I, --include', '-o, --out-link', '--compression', '--json']) {
      expect(run.stdout).toContain(option);
    }
    expect(run.stdout).toMatch(/"zlib", "zstd"/);
  });

  it('a missing FILE is a usage error (exit 2)', async () => {
    const run = await nixdisk(['build'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Name either FILE or --flake FLAKE#ATTR/);
    expectNoStackTrace(run.stderr);
  });
});

describe('nixdisk build --json', () => {
  it('one JSON event per line: each step starts and ends in order, then done', async () => {
    const cwd = await caseFolder(dir, 'json');
    await writeCall(cwd, 'image', { partitionTableType: '"efi"', format: '"qcow2"' });
    const run = await nixdisk(['build', 'image.nix', '--json', '-o', 'out'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const events = jsonLines(run.stderr);
    const started = events.filter((e) => e.type === 'step').map((e) => e.step);
    // ext4 reads the store paths in place: no staging step.
    expect(started).toEqual(['evaluate', 'realise', 'closure', 'populate', 'assemble', 'write']);
    expect(events.filter((e) => e.type === 'step-done').map((e) => e.step)).toEqual(started);
    for (const event of events.filter((e) => e.type === 'step-done')) expect(event.seconds).toBeTypeOf('number');
    const done = events.at(-1)!;
    expect(done).toMatchObject({ type: 'done', outDir: path.join(cwd, 'out'), image: path.join(cwd, 'out', 'nixos.qcow2') });
    expect(done.seconds).toBeGreaterThan(0);
    expect(run.stdout).toBe(`${path.join(cwd, 'out')}\n`);
  });

  it('failures are JSON lines too: rule errors as diagnostics with a location, others as an error event', async () => {
    const cwd = await caseFolder(dir, 'json-failures');
    await writeCall(cwd, 'rule', { partitionTableType: '"gpt"' });
    await writeCall(cwd, 'small', { partitionTableType: '"none"', diskSize: '1' });

    const rule = await nixdisk(['build', 'rule.nix', '--json', '-o', 'out'], { cwd });
    expect(rule.code).toBe(1);
    expect(jsonLines(rule.stderr).at(-1)).toMatchObject({
      type: 'diagnostic',
      file: 'rule.nix',
      line: 9,
      column: 24,
      severity: 'error',
      code: 'invalid-partition-table-type',
    });

    const small = await nixdisk(['build', 'small.nix', '--json', '-o', 'out'], { cwd });
    expect(small.code).toBe(1);
    const last = jsonLines(small.stderr).at(-1)!;
    expect(last.type).toBe('error');
    expect(last.message).toMatch(/Set diskSize = 2 or diskSize = "auto"/);
    await expectNothingLeft(cwd, 'out', ['rule.nix', 'small.nix']);
  });
});

describe('evaluated arguments keep their Nix types', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await caseFolder(dir, 'types');
    // The shape of pkgs.OVMF.fd: a derivation with its files named in passthru.
    await writeFile(
      path.join(cwd, 'ovmf.nix'),
      `let
  fd = derivation {
    name = "nixdisk-test-ovmf-fd";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/FV; echo code > $out/FV/OVMF_CODE.fd; echo vars > $out/FV/OVMF_VARS.fd" ];
  };
in
{
  withFiles = fd // { firmware = "\${fd}/FV/OVMF_CODE.fd"; variables = "\${fd}/FV/OVMF_VARS.fd"; };
  bare = fd;
}
`,
    );
    const efi = { partitionTableType: '"efi"', touchEFIVars: 'true' };
    await writeCall(cwd, 'ovmf-fd', { ...efi, OVMF: '(import ./ovmf.nix).withFiles', memSize: '"2048"', format: '"vhdx"' });
    await writeCall(cwd, 'ovmf-string', { ...efi, OVMF: '"\${(import ./ovmf.nix).withFiles}"' });
    await writeCall(cwd, 'ovmf-bare', { ...efi, OVMF: '(import ./ovmf.nix).bare' });
    await writeCall(cwd, 'bad-values', { memSize: '"lots"', format: '"qcow3"' });
  });

  it('builds with OVMF = fd // { firmware; variables; }, memSize = "2048" and format = "vhdx"', async () => {
    const run = await nixdisk(['build', 'ovmf-fd.nix', '-o', 'out'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/wrong-type/);
    expect((await qemuInfo(path.join(cwd, 'out', 'nixos.vhdx'))).format).toBe('vhdx');
    await rm(path.join(cwd, 'out'), { recursive: true });
  });

  it('refuses an OVMF that is a string, or a derivation without variables, and memSize = "lots" with format = "qcow3"', async () => {
    const string = await nixdisk(['build', 'ovmf-string.nix', '-o', 'out'], { cwd });
    expect(string.code).toBe(1);
    expect(string.stderr).toMatch(/ovmf-string\.nix:\d+:\d+: error: OVMF must be a derivation, not the string "\/nix\/store\/[0-9a-z]{32}-nixdisk-test-ovmf-fd" \[wrong-type\]/);
    const bare = await nixdisk(['build', 'ovmf-bare.nix', '-o', 'out'], { cwd });
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/OVMF has no attribute "variables".*\[ovmf-without-variables\]/);
    const values = await nixdisk(['build', 'bad-values.nix', '-o', 'out'], { cwd });
    expect(values.code).toBe(1);
    expect(values.stderr).toMatch(/\[invalid-mem-size\]/);
    expect(values.stderr).toMatch(/format "qcow3" is not a format qemu-img writes.*did you mean "qcow2"\? \[unknown-format\]/);
    await expectNothingLeft(cwd, 'out', ['ovmf.nix', 'ovmf-fd.nix', 'ovmf-string.nix', 'ovmf-bare.nix', 'bad-values.nix']);
  });
});

describe('options reach Nix and the pipeline', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await caseFolder(dir, 'options');
    // -I names the fixture folder, so the file itself holds no absolute path.
    await writeFile(
      path.join(cwd, 'function.nix'),
      `{ format ? "raw", diskSize ? "auto", label }:
import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { };
  lib = { };
  config = { };
  onlyNixStore = true;
  installBootLoader = false;
  copyChannel = false;
  partitionTableType = "none";
  additionalPaths = [ (import <fixtures/closure.nix>) ];
  inherit format diskSize label;
}
`,
    );
  });
  const include = () => ['-I', `fixtures=${path.dirname(FIXTURE_CLOSURE)}`];

  it('--argstr and --arg are the file\'s function arguments; defaults apply to the rest', async () => {
    const run = await nixdisk(['build', 'function.nix', ...include(), '--argstr', 'format', 'qcow2', '--arg', 'diskSize', '16 * 4', '--argstr', 'label', 'from-cli', '-o', 'qcow'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const image = path.join(cwd, 'qcow', 'nixos.qcow2');
    const info = await qemuInfo(image);
    expect(info.format).toBe('qcow2');
    expect(info['virtual-size']).toBe(64 * MiB);
    const raw = path.join(cwd, 'qcow.raw');
    await execa('qemu-img', ['convert', '-O', 'raw', image, raw]);
    const { stdout } = await execa('blkid', ['-p', '-o', 'export', raw], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    expect(stdout).toMatch(/^LABEL=from-cli$/m);
    await rm(raw);

    const defaults = await nixdisk(['build', 'function.nix', ...include(), '--argstr', 'label', 'x'], { cwd });
    expect(defaults.code, defaults.stderr).toBe(0);
    expect(defaults.stdout.trim()).toBe(path.join(cwd, 'result'));
    expect((await qemuInfo(path.join(cwd, 'result', 'nixos.img'))).format).toBe('raw');
  });

  it('a function argument without a default and not given: says which and how to pass it', async () => {
    const run = await nixdisk(['build', 'function.nix', ...include(), '-o', 'missing'], { cwd });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/is a function whose argument `label` has no default; pass it with `--arg label EXPR` or `--argstr label STRING`/);
    expectNoStackTrace(run.stderr);
  });

  it('without -I the <fixtures> lookup fails with Nix\'s message', async () => {
    const run = await nixdisk(['build', 'function.nix', '--argstr', 'label', 'x', '-o', 'no-include'], { cwd });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/file 'fixtures\/closure\.nix' was not found in the Nix search path/);
  });

  it('--compression zstd writes zstd qcow2 clusters', async () => {
    const run = await nixdisk(['build', 'function.nix', ...include(), '--argstr', 'format', 'qcow2-compressed', '--argstr', 'label', 'x', '--compression', 'zstd', '-o', 'zstd'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const info = await qemuInfo(path.join(cwd, 'zstd', 'nixos.qcow2'));
    expect(info['format-specific']?.data?.['compression-type']).toBe('zstd');
  });

  it('an unknown --compression is a usage error', async () => {
    const run = await nixdisk(['build', 'function.nix', '--compression', 'xz'], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Invalid values:[\s\S]*xz/);
  });
});

describe('piped output', () => {
  it.each([
    ['NO_COLOR=1', { NO_COLOR: '1', FORCE_COLOR: '1' }],
    ['no NO_COLOR, not a terminal', { NO_COLOR: '' }],
  ])('%s: no escape sequences, on success or failure', async (_, env) => {
    const cwd = await caseFolder(dir, `plain-${env.NO_COLOR || 'unset'}`);
    await writeCall(cwd, 'good', { partitionTableType: '"none"' });
    await writeCall(cwd, 'bad', { partitionTableType: '"gpt"', fromat: '"raw"' });
    await writeCall(cwd, 'small', { partitionTableType: '"none"', diskSize: '1' });
    for (const file of ['good.nix', 'bad.nix', 'small.nix']) {
      const run = await nixdisk(['build', file, '-o', 'out'], { cwd, env });
      expect(run.code, run.stderr).toBe(file === 'good.nix' ? 0 : 1);
      expect(run.stderr.length).toBeGreaterThan(0);
      expect(run.stdout + run.stderr).not.toContain(ESCAPE);
    }
  });

  it('on a terminal the same failure is coloured (so the check above can fail)', async () => {
    const cwd = await caseFolder(dir, 'tty');
    await writeCall(cwd, 'bad', { partitionTableType: '"gpt"' });
    const { CLI } = await import('../helpers/build-fixture.js');
    const { stdout } = await execa('script', ['-qec', `${CLI} build bad.nix -o out`, '/dev/null'], {
      cwd,
      env: { ...process.env, NO_COLOR: '', TMPDIR: path.join(cwd, 'tmp') },
      reject: false,
    });
    expect(stdout).toContain(`${ESCAPE}[`);
    expect(await readdir(cwd)).not.toContain('out');
  });
});

describe('evaluatedCallSite: which call of a file -A evaluated', () => {
  const FILE = `let mk = import <nixpkgs/nixos/lib/make-disk-image.nix>; in {
  a = mk { pkgs = p; lib = l; config = { }; format = "raw"; diskSize = 10; };
  b = mk { pkgs = p; lib = l; config = { }; format = "qcow2"; diskSize = 10; };
  c = mk { pkgs = p; lib = l; config = { }; format = "raw"; };
  d = mk { pkgs = p; lib = l; config = { }; format = someVariable; diskSize = 10; };
}
`;
  const sites = analyzeFile('/x/images.nix', FILE).callSites;
  const call = (args: Record<string, unknown>, unknown: Record<string, unknown> = {}): SerializedCall =>
    ({ arguments: { config: {}, ...args }, unknownArguments: unknown }) as SerializedCall;
  const line = (site: ReturnType<typeof evaluatedCallSite>) => (site ? site.range.start.line + 1 : undefined);

  it.each([
    ['names and known values single out a', call({ format: 'raw', diskSize: 10 }), 2],
    ['a different known value singles out b', call({ format: 'qcow2', diskSize: 10 }), 3],
    ['different names single out c', call({ format: 'raw' }), 4],
    ['a value only Nix knows still matches d', call({ format: 'vdi', diskSize: 10 }), 5],
    ['no call spells these names', call({ format: 'raw', diskSize: 10, label: 'x' }), undefined],
    ['an unknown argument name counts as a name', call({ format: 'raw' }, { fromat: 'x' }), undefined],
  ])('%s', (_, evaluated, expectedLine) => {
    expect(sites).toHaveLength(4);
    expect(line(evaluatedCallSite(sites, evaluated))).toBe(expectedLine);
  });

  it('two calls that agree on everything known: undecided', () => {
    const twins = analyzeFile('/x/twins.nix', `let mk = import <nixpkgs/nixos/lib/make-disk-image.nix>; in {
  a = mk { config = { }; format = "raw"; diskSize = x; };
  b = mk { config = { }; format = "raw"; diskSize = y; };
}
`).callSites;
    expect(twins).toHaveLength(2);
    expect(evaluatedCallSite(twins, call({ format: 'raw', diskSize: 10 }))).toBeUndefined();
  });

  it('a file with one call site: that one, whatever the evaluation', () => {
    const one = analyzeFile('/x/one.nix', 'import <nixpkgs/nixos/lib/make-disk-image.nix> (import ./args.nix)').callSites;
    expect(one).toHaveLength(1);
    expect(evaluatedCallSite(one, call({ format: 'raw' }))).toBe(one[0]);
  });
});

describe('checkEvaluatedArguments: diagnostics point where the file spells the argument', () => {
  const FILE = `import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = p; lib = l; config = { };
  format = "raw";
  partitionTableType = PARTITION_TABLE_TYPE;
  bootSize = "256M";
}
`;
  /** A file whose text counts its reads: read means parsed. */
  const countingFile = (partitionTableType: string) => {
    const text = FILE.replace('PARTITION_TABLE_TYPE', JSON.stringify(partitionTableType));
    const file = {
      reads: 0,
      path: '/x/image.nix',
      get text() {
        file.reads++;
        return text;
      },
    };
    return file;
  };
  const evaluated = (partitionTableType: string) =>
    ({ arguments: { config: {}, format: 'raw', partitionTableType, bootSize: '256M' }, unknownArguments: {} }) as SerializedCall;
  /** 1-based line:column, as nixdisk prints it. */
  const at = (range: { start: { line: number; column: number } }) => `${range.start.line + 1}:${range.start.column + 1}`;

  it.each([
    ['an error at the value', 'gpt', 'invalid-partition-table-type', '4:24'],
    ['a warning at the argument\'s name', 'legacy', 'no-effect', '5:3'],
  ])('%s, found by parsing the file once there is something to place', (_, table, code, where) => {
    const file = countingFile(table);
    const { diagnostics } = checkEvaluatedArguments(evaluated(table), file);
    expect(diagnostics.map((d) => [d.code, at(d.range)])).toEqual([[code, where]]);
    expect(file.reads).toBeGreaterThan(0);
    // Without the file the same diagnostic has nowhere to point but the file's start.
    expect(checkEvaluatedArguments(evaluated(table), undefined).diagnostics.map((d) => [d.code, at(d.range)])).toEqual([[code, '1:1']]);
  });

  it('arguments with nothing to report: the file is never parsed, the defaults are applied', () => {
    const file = countingFile('efi');
    const { args, diagnostics } = checkEvaluatedArguments(evaluated('efi'), file);
    expect(diagnostics).toEqual([]);
    expect(file.reads).toBe(0);
    expect(args.get('partitionTableType')).toMatchObject({ value: { kind: 'string', value: 'efi' }, isDefault: false });
    expect(args.get('fsType')).toMatchObject({ value: { kind: 'string', value: 'ext4' }, isDefault: true });
  });
});
