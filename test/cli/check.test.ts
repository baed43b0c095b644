import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTargets, collectTargets, exitCodeFor, UsageError } from '../../src/cli/check.js';
import { PACKAGE_ROOT } from '../../src/package.js';
import { mutate, prng, SEEDS } from '../fuzz/corpus.js';

const CLI = path.join(PACKAGE_ROOT, 'dist', 'nixdisk.js');
const run = promisify(execFile);

async function nixdisk(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  expect(existsSync(CLI), `${CLI} is missing: run \`bash scripts/setup.sh\` first`).toBe(true);
  try {
    const { stdout, stderr } = await run(CLI, args, { env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const RULE_FIXTURES = path.join(PACKAGE_ROOT, 'test', 'analysis', 'fixtures', 'rules');
/** nixfmt-style files that are valid Nix (test/syntax/modern-nix.test.ts). */
const MODERN_NIX = path.join(PACKAGE_ROOT, 'test', 'syntax', 'fixtures', 'modern');

let dir: string;
const CALL = (extra: string) => `{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> {\n  inherit pkgs lib config;\n  ${extra}\n}\n`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-check-'));
  await writeFile(path.join(dir, 'good.nix'), CALL('partitionTableType = "efi";'));
  await writeFile(path.join(dir, 'warn.nix'), CALL('bootSize = "512M";'));
  await writeFile(path.join(dir, 'bad.nix'), CALL('bootSize = "1024MB"; partitionTableType = "efi";'));
  await writeFile(path.join(dir, 'broken-unrelated.nix'), '{ a = ; ');
  await mkdir(path.join(dir, 'node_modules'));
  await writeFile(path.join(dir, 'node_modules', 'bad.nix'), CALL('format = 1;'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('check (in process)', () => {
  it('walks directories for *.nix, skipping node_modules, and names files as given', async () => {
    const targets = await collectTargets([dir, path.join(dir, 'good.nix')]);
    expect(targets.map((t) => [path.basename(t.file), t.named])).toEqual([
      ['bad.nix', false],
      ['broken-unrelated.nix', false],
      ['good.nix', false],
      ['warn.nix', false],
      ['good.nix', true],
    ]);
  });

  it('rejects a missing path as a usage error', async () => {
    await expect(collectTargets([path.join(dir, 'nope.nix')])).rejects.toBeInstanceOf(UsageError);
  });

  it('reports syntax errors only in named files or files with a call site', async () => {
    const walked = await checkTargets(await collectTargets([dir]));
    expect(walked.map((r) => [path.basename(r.file), r.code])).toEqual([
      ['bad.nix', 'invalid-size'],
      ['warn.nix', 'no-effect'],
    ]);
    const named = await checkTargets(await collectTargets([path.join(dir, 'broken-unrelated.nix')]));
    expect(named.map((r) => r.code)).toContain('syntax-error');
  });

  it('exits 1 only when there is an error', async () => {
    expect(exitCodeFor(await checkTargets(await collectTargets([path.join(dir, 'warn.nix')])))).toBe(0);
    expect(exitCodeFor(await checkTargets(await collectTargets([path.join(dir, 'bad.nix')])))).toBe(1);
  });

  it('walks a few hundred generated files without a crash; files without call sites say nothing', async () => {
    const tree = path.join(dir, 'tree');
    const random = prng(7);
    const expectedSilent: string[] = [];
    for (let i = 0; i < 300; i++) {
      const sub = path.join(tree, `d${i % 17}`);
      await mkdir(sub, { recursive: true });
      const seed = SEEDS[i % SEEDS.length]!;
      const text = i % 3 === 0 ? mutate(random, seed) : i % 3 === 1 ? `{ x${i} = ${i}; y = [ ${'"s" '.repeat(i % 7)}]; }\n` : seed;
      const file = path.join(sub, `f${i}.nix`);
      await writeFile(file, text);
      if (!text.includes('make-disk-image')) expectedSilent.push(file);
    }
    const targets = await collectTargets([tree]);
    expect(targets).toHaveLength(300);
    const records = await checkTargets(targets);
    expect(records.filter((r) => r.code === 'internal-error')).toEqual([]);
    const noisy = new Set(records.map((r) => r.file));
    expect(expectedSilent.filter((file) => noisy.has(file))).toEqual([]);
    expect(noisy.size).toBeGreaterThan(0);
  });
});

describe('nixdisk check (compiled CLI)', () => {
  it('prints file:line:col: severity: message [code] and exits 1 on an error', async () => {
    const result = await nixdisk('check', path.join(dir, 'bad.nix'));
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${path.join(dir, 'bad.nix')}:4:14: error: bootSize "1024MB" is not a size`);
    expect(result.stdout).toContain('[invalid-size]');
  });

  it('exits 0 with warnings only, and prints JSON records with --format json', async () => {
    const result = await nixdisk('check', '--format', 'json', path.join(dir, 'warn.nix'), path.join(dir, 'good.nix'));
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { file: path.join(dir, 'warn.nix'), line: 4, column: 3, endLine: 4, endColumn: 11, severity: 'warning', code: 'no-effect', message: expect.stringContaining('bootSize has no effect') },
    ]);
  });

  it('accepts trailing commas in formals, memSize = "2048" and format = "vhdx" (infos only, exit 0)', async () => {
    const modern = ['at-pattern.nix', 'comments-and-strings.nix', 'defaults.nix', 'flake.nix', 'nixos-module.nix'].map((name) => path.join(MODERN_NIX, name));
    const result = await nixdisk('check', '--format', 'json', path.join(RULE_FIXTURES, 'vm-only-knobs.nix'), ...modern);
    expect(result.code).toBe(0);
    const records = JSON.parse(result.stdout) as { severity: string; code: string }[];
    expect(records.filter((r) => r.severity !== 'info')).toEqual([]);
    expect(records.map((r) => r.code)).toContain('vm-only');
  });

  it('still reports a real syntax error, memSize = "lots", format = "qcow3" and a string OVMF (exit 1)', async () => {
    await writeFile(path.join(dir, 'comma-after-ellipsis.nix'), '{\n  pkgs,\n  ...,\n}:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> { inherit pkgs; }\n');
    const result = await nixdisk('check', '--format', 'json', path.join(dir, 'comma-after-ellipsis.nix'), path.join(RULE_FIXTURES, 'vm-only-mistakes.nix'));
    expect(result.code).toBe(1);
    const errors = (JSON.parse(result.stdout) as { severity: string; code: string; line: number }[]).filter((r) => r.severity === 'error');
    expect(errors.map((r) => r.code)).toEqual(expect.arrayContaining(['syntax-error', 'invalid-mem-size', 'unknown-format', 'wrong-type']));
    expect(errors.find((r) => r.code === 'syntax-error')!.line).toBe(3);
  });

  it('exits 2 with a clear message for a missing file', async () => {
    const result = await nixdisk('check', path.join(dir, 'missing.nix'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`no such file or directory: ${path.join(dir, 'missing.nix')}`);
  });

  it('exits 2 for bad usage', async () => {
    expect((await nixdisk('check')).code).toBe(2);
    expect((await nixdisk('check', '--format', 'xml', path.join(dir, 'good.nix'))).code).toBe(2);
  });
});
