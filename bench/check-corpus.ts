/**
 * `nixdisk check` speed: warm (in process, per file, over a generated corpus of 1000
 * .nix files) and cold (a fresh `node dist/nixdisk.js check one-file.nix`).
 * Run after `npx tsc -p tsconfig.json`: `node dist/bench/check-corpus.js`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeFile } from '../src/analysis/analyze.js';

const FILES = 1000;
const COLD_RUNS = 11;
const WARM_TARGET_MS = 30;
const COLD_TARGET_MS = 300;

const CALL_FORMS = [
  (args: string) => `{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> {\n  inherit pkgs lib config;\n${args}}\n`,
  (args: string) => `{ pkgs, config, ... }:\nlet\n  makeDiskImage = import "\${pkgs.path}/nixos/lib/make-disk-image.nix";\nin {\n  image = makeDiskImage {\n    inherit pkgs config;\n    lib = pkgs.lib;\n${args}  };\n}\n`,
  (args: string) => `{ pkgs, config }:\npkgs.callPackage <nixpkgs/nixos/lib/make-disk-image.nix> {\n  inherit config;\n${args}}\n`,
];

const ARGUMENT_LINES = [
  '  partitionTableType = "efi";\n',
  '  diskSize = 4096;\n',
  '  format = "qcow2";\n',
  '  bootSize = "1024MB";\n',
  '  label = "a-very-long-label-for-ext4";\n',
  '  contents = [ { source = ./motd; target = "/etc/motd"; mode = "0644"; } ];\n',
  '  memSize = 2048;\n',
  '  onlyNixStore = true;\n',
];

/** Nix that never calls make-disk-image, as most files of a real tree. */
function noise(i: number): string {
  const attrs = Array.from({ length: 20 + (i % 40) }, (_, k) => `  attr${k} = { name = "x${k}"; value = [ ${k} ${k + 1} "s" ]; enable = ${k % 2 === 0}; };\n`).join('');
  return `{ lib, stdenv, fetchurl }:\nlet\n  version = "1.${i}";\nin stdenv.mkDerivation {\n  pname = "pkg${i}";\n  inherit version;\n  src = fetchurl { url = "https://example.org/\${version}.tar.gz"; sha256 = lib.fakeSha256; };\n  passthru = {\n${attrs}  };\n}\n`;
}

function generateCorpus(dir: string): string[] {
  const files: string[] = [];
  for (let i = 0; i < FILES; i++) {
    const file = path.join(dir, `f${i}.nix`);
    const isCall = i % 3 === 0;
    const args = ARGUMENT_LINES.filter((_, k) => (i >> k) & 1).join('');
    writeFileSync(file, isCall ? CALL_FORMS[i % CALL_FORMS.length]!(args) : noise(i));
    files.push(file);
  }
  return files;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function main(): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nixdisk-bench-'));
  try {
    const files = generateCorpus(dir);
    const texts = files.map((file) => readFileSync(file, 'utf8'));
    // The first file pays for loading the grammar and the query: warm means after that.
    analyzeFile(files[0]!, texts[0]!);
    const perFile: number[] = [];
    let diagnostics = 0;
    let withError: string | undefined;
    const started = performance.now();
    for (let i = 0; i < files.length; i++) {
      const t0 = performance.now();
      const found = analyzeFile(files[i]!, texts[i]!).diagnostics;
      perFile.push(performance.now() - t0);
      diagnostics += found.length;
      if (!withError && found.some((d) => d.severity === 'error')) withError = files[i];
    }
    const total = performance.now() - started;

    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'nixdisk.js');
    // A file with an error: the run must print it and exit 1, which proves the CLI really checked it.
    const oneFile = withError!;
    const cold: number[] = [];
    for (let run = 0; run < COLD_RUNS; run++) {
      const t0 = performance.now();
      let stdout = '';
      try {
        execFileSync(process.execPath, [cli, 'check', oneFile], { stdio: 'pipe' });
      } catch (error) {
        const failure = error as { status?: number; stdout?: Buffer; stderr?: Buffer };
        if (failure.status !== 1) throw new Error(`nixdisk check failed to run: ${failure.stderr?.toString() ?? String(error)}`);
        stdout = failure.stdout?.toString() ?? '';
      }
      cold.push(performance.now() - t0);
      if (!stdout.includes(oneFile)) throw new Error(`nixdisk check printed no diagnostic for ${oneFile}`);
    }

    const warmMedian = median(perFile);
    const warmMean = total / FILES;
    const warmP99 = [...perFile].sort((a, b) => a - b)[Math.floor(FILES * 0.99)]!;
    const warmMax = Math.max(...perFile);
    const coldMedian = median(cold);
    const verdict = (value: number, target: number) => (value <= target ? 'ok' : 'OVER TARGET');
    console.log(`corpus: ${FILES} files (${files.filter((_, i) => i % 3 === 0).length} with a call site), ${diagnostics} diagnostics`);
    // The target is per file on average; single outliers are garbage collection pauses.
    console.log(
      `warm check: ${warmMean.toFixed(2)} ms/file mean, ${warmMedian.toFixed(2)} median, ${warmP99.toFixed(2)} p99, ${warmMax.toFixed(2)} max (target ≤ ${WARM_TARGET_MS} ms/file: ${verdict(warmMean, WARM_TARGET_MS)})`,
    );
    console.log(`cold start: ${coldMedian.toFixed(0)} ms median of ${COLD_RUNS} (\`node ${path.relative(process.cwd(), cli)} check one-file.nix\`; target ≤ ${COLD_TARGET_MS} ms: ${verdict(coldMedian, COLD_TARGET_MS)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
