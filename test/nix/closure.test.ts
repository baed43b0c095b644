import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { evaluateCallSite, instantiate } from '../../src/nix/evaluate.js';
import { installablesOf } from '../../src/nix/serialized.js';
import { closureOf, formatRegistration, hostStore, narHashOf, NixStoreError, realise, type Closure } from '../../src/nix/closure.js';
import { parseRegistration } from '../helpers/registration.js';
import { PACKAGE_ROOT } from '../../src/package.js';
import { removeTree } from '../../src/remove-tree.js';

const FIXTURE = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'closure.nix');

/** Every folder a test here makes goes inside this one (the NAR copy keeps the store's read-only modes). */
let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'nixdisk-closure-test-'));
});
afterAll(() => removeTree(scratch));

function byName(closure: Closure, name: string) {
  const info = closure.paths.find((p) => p.path.endsWith(`-${name}`));
  if (!info) throw new Error(`no ${name} in ${closure.paths.map((p) => p.path).join(', ')}`);
  return info;
}

describe('realise and closureOf on test/fixtures/closure.nix', () => {
  let root: string;
  let closure: Closure;

  beforeAll(async () => {
    const drvs = await instantiate({ file: FIXTURE, includes: [] });
    expect(drvs).toEqual([expect.stringMatching(/-nixdisk-fixture-root\.drv$/)]);
    const outputs = await realise(drvs.map((drv) => `${drv}!out`));
    expect(outputs).toHaveLength(1);
    root = outputs[0]!;
    closure = await closureOf([root]);
  });

  it('realises the root derivation to its store path', () => {
    expect(root).toMatch(/^\/nix\/store\/[0-9a-z]{32}-nixdisk-fixture-root$/);
  });

  it('lists the four paths of the closure, sorted by path, with their sizes added up', () => {
    expect(closure.paths.map((p) => p.path.replace(/^\/nix\/store\/[0-9a-z]{32}-/, '')).sort()).toEqual([
      'nixdisk-fixture-data',
      'nixdisk-fixture-note',
      'nixdisk-fixture-root',
      'nixdisk-fixture-tool',
    ]);
    const paths = closure.paths.map((p) => p.path);
    expect(paths).toEqual([...paths].sort());
    expect(closure.totalNarSize).toBe(closure.paths.reduce((sum, p) => sum + p.narSize, 0));
    // The data path holds the ~1 MB file, so its NAR is at least that big.
    expect(byName(closure, 'nixdisk-fixture-data').narSize).toBeGreaterThan(900_000);
  });

  it('records the reference graph and derivers', () => {
    const [data, note, tool, rootInfo] = ['data', 'note', 'tool', 'root'].map((n) => byName(closure, `nixdisk-fixture-${n}`));
    expect(rootInfo!.references).toEqual([note!.path, tool!.path].sort());
    expect(tool!.references).toEqual([data!.path]);
    expect(data!.references).toEqual([]);
    expect(note!.references).toEqual([]);
    expect(rootInfo!.deriver).toMatch(/-nixdisk-fixture-root\.drv$/);
    // builtins.toFile results have no deriver.
    expect(note!.deriver).toBeNull();
  });

  it('matches nix-store --query --hash/--size for every path', () => {
    for (const info of closure.paths) {
      expect(info.narHash).toBe(execFileSync('nix-store', ['--query', '--hash', info.path]).toString().trim());
      expect(info.narSize).toBe(Number(execFileSync('nix-store', ['--query', '--size', info.path]).toString().trim()));
    }
  });

  it('narHashOf equals the registered NAR hash for every path, and for a copy outside the store', async () => {
    for (const info of closure.paths) {
      expect(await narHashOf(info.path)).toBe(info.narHash);
    }
    const copy = path.join(mkdtempSync(path.join(scratch, 'nar-')), 'data');
    const data = byName(closure, 'nixdisk-fixture-data');
    execFileSync('cp', ['-a', data.path, copy]);
    expect(await narHashOf(copy)).toBe(data.narHash);
    execFileSync('chmod', ['u+w', path.join(copy, 'share', 'numbers')]);
    writeFileSync(path.join(copy, 'share', 'numbers', 'extra'), 'changed\n');
    expect(await narHashOf(copy)).not.toBe(data.narHash);
  });

  it('writes a closureInfo registration that nix-store --load-db accepts as the same closure', () => {
    const registration = formatRegistration(closure.paths);
    const stateDir = mkdtempSync(path.join(scratch, 'state-'));
    const env = { ...process.env, NIX_STATE_DIR: stateDir };
    execFileSync('nix-store', ['--load-db'], { input: registration, env });
    const reloaded = parseRegistration(execFileSync('nix-store', ['--dump-db'], { env }).toString());
    expect(reloaded.sort((a, b) => a.path.localeCompare(b.path))).toEqual(closure.paths.map((p) => ({ ...p, deriver: null })));
  });
});

describe('realise', () => {
  it("streams Nix's build log lines while building", async () => {
    const dir = mkdtempSync(path.join(scratch, 'realise-'));
    // A fresh name every run, so Nix really builds it.
    const marker = `nixdisk-progress-${process.pid}-${Date.now()}`;
    writeFileSync(
      path.join(dir, 'fresh.nix'),
      `derivation { name = "${marker}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo ${marker}-log; /bin/mkdir $out" ]; }\n`,
    );
    const [drv] = await instantiate({ file: path.join(dir, 'fresh.nix'), includes: [] });
    const lines: string[] = [];
    const outputs = await realise([`${drv}!out`], (line) => lines.push(line));
    expect(outputs).toEqual([expect.stringMatching(new RegExp(`-${marker}$`))]);
    expect(lines).toContain(`${marker}-log`);
    expect(lines.some((line) => line.startsWith('building ') && line.includes(marker))).toBe(true);
  });

  it("reports a failing build with Nix's log", async () => {
    const dir = mkdtempSync(path.join(scratch, 'realise-'));
    const name = `nixdisk-failing-${process.pid}-${Date.now()}`;
    writeFileSync(
      path.join(dir, 'failing.nix'),
      `derivation { name = "${name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo it-broke; exit 3" ]; }\n`,
    );
    const [drv] = await instantiate({ file: path.join(dir, 'failing.nix'), includes: [] });
    const error = await realise([`${drv}!out`]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(NixStoreError);
    expect((error as Error).message).toMatch(/Nix could not build .*-nixdisk-failing-/);
    expect((error as Error).message).toContain('it-broke');
    expect((error as Error).message).toMatch(/exit code 3/);
  });

  it('returns an existing store path as it is and does nothing for no input', async () => {
    const [drv] = await instantiate({ file: FIXTURE, includes: [] });
    const [root] = await realise([`${drv}!out`]);
    expect(await realise([root!])).toEqual([root]);
    expect(await realise([])).toEqual([]);
    expect(await closureOf([])).toEqual({ paths: [], totalNarSize: 0 });
  });
});

describe('hostStore', () => {
  it('builds what is not built yet, then reads the closure', async () => {
    const dir = mkdtempSync(path.join(scratch, 'host-store-'));
    const marker = `nixdisk-host-store-${process.pid}-${Date.now()}`;
    writeFileSync(
      path.join(dir, 'fresh.nix'),
      `derivation { name = "${marker}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo ${marker}-log; /bin/mkdir $out" ]; }\n`,
    );
    const [drv] = await instantiate({ file: path.join(dir, 'fresh.nix'), includes: [] });
    const lines: string[] = [];
    const store = hostStore((line) => lines.push(line));
    await store.realise([`${drv}!out`]);
    expect(lines).toContain(`${marker}-log`);
    const output = execFileSync('nix-store', ['--query', '--outputs', drv!]).toString().trim();
    expect((await store.closureOf([output])).paths.map((p) => p.path)).toEqual([output]);
  });

  it.each([
    ['drv!out', (drv: string) => `${drv}!out`],
    ['a bare .drv (all outputs)', (drv: string) => drv],
  ])('gives, for built paths named as %s, the closure closureOf reads', async (_form, installable) => {
    const [drv] = await instantiate({ file: FIXTURE, includes: [] });
    const [root] = await realise([`${drv}!out`]);
    const store = hostStore();
    await store.realise([installable(drv!)]);
    const expected = await closureOf([root!]);
    expect(await store.closureOf([root!])).toEqual(expected);
    // A root inside a store path (make-disk-image's additionalPaths may name one).
    const inside = path.join(root!, 'bin');
    expect(await store.closureOf([inside])).toEqual(await closureOf([inside]));
  });
});

describe("the examples' store paths", () => {
  it('examples/store-only.nix realises to a closure of launcher, greeting and motd', async () => {
    const { args } = await evaluateCallSite({ file: path.join(PACKAGE_ROOT, 'examples', 'store-only.nix'), args: [], argstrs: [], includes: [] });
    const outputs = await realise(installablesOf(args.arguments));
    const closure = await closureOf(outputs);
    expect(closure.paths.map((p) => p.path.replace(/^\/nix\/store\/[0-9a-z]{32}-/, '')).sort()).toEqual(['greeting', 'launcher', 'motd']);
    const greeting = byName(closure, 'greeting').path;
    const launcher = byName(closure, 'launcher').path;
    expect(statSync(path.join(greeting, 'bin', 'greet')).mode & 0o111).toBe(0o111);
    expect(readlinkSync(path.join(launcher, 'bin', 'greet'))).toBe(`${greeting}/bin/greet`);
    expect(byName(closure, 'launcher').references).toEqual([greeting]);
  });
});
