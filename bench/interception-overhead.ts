/**
 * What intercepting make-disk-image.nix through `scopedImport` (nixlib/shim.nix, the way
 * `nixdisk build` evaluates) costs against plain Nix, which caches each file it imports:
 * a copy of the test stand-in nixpkgs with MODULES generated NixOS modules, evaluated to
 * the make-disk-image call of a configuration, three ways:
 *   plain       nix-instantiate of the drop-in's derivation (make-disk-image.nix replaced in place)
 *   shim        nix-instantiate --eval through the shim, every import intercepted
 *   substitute  what `nixdisk build` does: a linked substitute of nixpkgs (src/nix/substitute.ts)
 *               made, then evaluated with plain imports
 * in two layouts: every module file imported once, and every module also importing one
 * shared file (as nixpkgs' files import `../lib`, `utils.nix` …), which only plain Nix
 * evaluates once. Run after `npx tsc -p tsconfig.json`: `node dist/bench/interception-overhead.js`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/package.js';
import { evaluationArguments } from '../src/nix/evaluate.js';

const MODULES = 2000;
const RUNS = 3;
const STAND_IN = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'nixpkgs-standin');
const DROP_IN = path.join(PACKAGE_ROOT, 'nixlib', 'make-disk-image.nix');

function generate(root: string, shared: boolean): void {
  cpSync(STAND_IN, root, { recursive: true });
  const generated = path.join(root, 'nixos', 'modules', 'generated');
  mkdirSync(generated);
  // A shared file a little like nixpkgs' lib: enough code that evaluating it costs something.
  writeFileSync(
    path.join(root, 'lib', 'shared.nix'),
    `rec {\n${Array.from({ length: 200 }, (_, i) => `  f${i} = x: x + ${i};`).join('\n')}\n  all = builtins.foldl' (a: f: f a) 0 [ ${Array.from({ length: 200 }, (_, i) => `f${i}`).join(' ')} ];\n}\n`,
  );
  const names: string[] = [];
  for (let i = 0; i < MODULES; i++) {
    const name = `m${String(i).padStart(4, '0')}.nix`;
    names.push(`./generated/${name}`);
    const value = shared ? `(import ../../../lib/shared.nix).all + ${i}` : String(i);
    writeFileSync(
      path.join(generated, name),
      `{ lib, ... }:\n{\n  options.generated.m${i} = lib.mkOption { default = ${value}; };\n  config.system.packages = [ ];\n}\n`,
    );
  }
  writeFileSync(
    path.join(root, 'nixos', 'modules', 'module-list.nix'),
    `[\n  ./system/toplevel.nix\n  ./virtualisation/disk-image.nix\n${names.map((n) => `  ${n}\n`).join('')}]\n`,
  );
  // The configuration reads every generated option, so each module is evaluated.
  writeFileSync(
    path.join(root, 'configuration.nix'),
    `{ config, lib, pkgs, modulesPath, ... }:\n{\n  system.build.qcow = import "\${modulesPath}/../lib/make-disk-image.nix" {\n    inherit config lib pkgs;\n    onlyNixStore = true; installBootLoader = false; copyChannel = false;\n    partitionTableType = "none";\n    label = "sum-\${toString (builtins.foldl' (a: b: a + b) 0 (builtins.attrValues config.generated))}";\n    additionalPaths = [ pkgs.motd ];\n  };\n}\n`,
  );
}

function seconds(command: string, args: string[], cwd: string): number {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    times.push((performance.now() - started) / 1000);
  }
  return median(times);
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'nixdisk-interception-'));
try {
  for (const shared of [false, true]) {
    const root = path.join(work, shared ? 'shared' : 'once');
    generate(root, shared);
    const common = ['-I', `nixpkgs=${root}`, '-I', `nixos-config=${path.join(root, 'configuration.nix')}`];
    // The configuration names the file inside nixpkgs by path; -I cannot redirect that, so
    // the plain run replaces the file itself, as a substituted nixpkgs would.
    writeFileSync(path.join(root, 'nixos', 'lib', 'make-disk-image.nix'), `import ${DROP_IN}\n`);
    // Timed inside node, so node's own start is not counted against the route.
    const substitute = median(Array.from({ length: RUNS }, () => Number(execFileSync('node', ['--input-type=module', '-e', `
      import { evaluateCallSite } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'dist', 'src', 'nix', 'evaluate.js'))};
      const started = performance.now();
      const { route } = await evaluateCallSite({ file: '<nixpkgs/nixos>', attr: 'config.system.build.qcow', args: [], argstrs: [], includes: ${JSON.stringify(common.filter((_, i) => i % 2 === 1))}, cwd: ${JSON.stringify(root)} });
      if (route !== 'substitute') throw new Error('took the ' + route + ' route');
      console.log((performance.now() - started) / 1000);`], { cwd: root, encoding: 'utf8' }))));
    const plain = seconds('nix-instantiate', ['<nixpkgs/nixos>', '-A', 'config.system.build.qcow', ...common, '--option', 'substituters', ''], root);
    const shim = seconds('nix-instantiate', evaluationArguments({ file: '<nixpkgs/nixos>', attr: 'config.system.build.qcow', args: [], argstrs: [], includes: common.filter((_, i) => i % 2 === 1) }, root, { lookUpNixpkgs: false }), root);
    const layout = shared ? `${MODULES} modules each importing one shared file` : `${MODULES} modules, each file imported once`;
    console.log(
      `${layout}: plain nix-instantiate ${plain.toFixed(2)} s; scopedImport shim ${shim.toFixed(2)} s (×${(shim / plain).toFixed(2)}); ` +
        `substituted nixpkgs, made and evaluated ${substitute.toFixed(2)} s (×${(substitute / plain).toFixed(2)}); median of ${RUNS}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
