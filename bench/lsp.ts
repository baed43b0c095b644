/**
 * `nixdisk lsp` as an editor feels it, over real stdio: the time from a didChange to
 * the publishDiagnostics for that version on a 2000-line file (target ≤ 50 ms), and the
 * server's resident memory after 10 000 edits against after the first 100 (target ≤ +20%).
 * Run after `bash scripts/setup.sh`: `node dist/bench/lsp.js`.
 */
import { readFileSync } from 'node:fs';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { analyzeFile } from '../src/analysis/analyze.js';
import { AnalysisCache } from '../src/lsp/documents.js';
import { LspClient } from '../test/helpers/lsp-client.js';

const LINES = 2000;
const TIMED_EDITS = 200;
const MEMORY_EDITS = 10_000;
const FIRST_EDITS = 100;
/** Edits written together before waiting for their diagnostics: a fast typist's burst. */
const BURST = 10;
const LATENCY_TARGET_MS = 50;
const MEMORY_GROWTH_TARGET = 0.2;

/**
 * A NixOS-style file of about `lines` lines: service settings, and a make-disk-image
 * call every `callEvery` blocks. `callEvery` 1 is the worst case: every block a call.
 */
function generate(lines: number, callEvery: number): string {
  const parts = ['{ pkgs, lib, config, ... }:', 'let', '  makeDiskImage = import <nixpkgs/nixos/lib/make-disk-image.nix>;', 'in {'];
  for (let i = 0; parts.length < lines - 1; i++) {
    if (i % callEvery === 0) {
      parts.push(`  images.image${i} = makeDiskImage {`, '    inherit pkgs lib config;', '    partitionTableType = "efi";', `    diskSize = ${4096 + i};`);
      parts.push('    format = "qcow2";', '    bootSize = "512M";', `    label = "image${i % 1000}";`, '  };');
    }
    parts.push(`  services.service${i} = {`, '    enable = true;', `    settings = { port = ${1000 + i}; name = "service-\${toString ${i}}"; };`);
    parts.push("    extraConfig = ''", `      line ${i}`, "    '';", '    packages = with pkgs; [ hello jq ];', '  };');
  }
  parts.push('}', '');
  return parts.join('\n');
}

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

function residentKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
}

/** One keystroke: the last digit of the first diskSize cycles 0-9, so the file keeps its size. */
function keystroke(text: string, n: number) {
  const index = text.indexOf('diskSize = ') + 'diskSize = '.length + 3;
  const before = text.slice(0, index).split('\n');
  const position = { line: before.length - 1, character: before[before.length - 1]!.length };
  return { range: { start: position, end: { ...position, character: position.character + 1 } }, text: String(n % 10) };
}

/**
 * The server's own work per keystroke, in this process, less disturbed by other load than
 * the round trip: the analysis of each new version from the tree of the one before,
 * alternating with a fresh analysis of the same text (what `check` does), medians of each.
 */
function analysisPerEdit(text: string): { incrementalMs: number; freshMs: number } {
  const uri = 'file:///bench/images.nix';
  const document = TextDocument.create(uri, 'nix', 1, text);
  const cache = new AnalysisCache();
  cache.get(document);
  const incremental: number[] = [];
  const fresh: number[] = [];
  for (let version = 2; version < 2 + TIMED_EDITS; version++) {
    TextDocument.update(document, [keystroke(text, version)], version);
    let started = performance.now();
    cache.get(document);
    incremental.push(performance.now() - started);
    started = performance.now();
    analyzeFile('/bench/images.nix', document.getText());
    fresh.push(performance.now() - started);
  }
  return { incrementalMs: percentile(incremental, 0.5), freshMs: percentile(fresh, 0.5) };
}

async function measure(name: string, text: string, withMemory: boolean): Promise<void> {
  const inProcess = analyzeFile('/bench/images.nix', text);
  const { incrementalMs, freshMs } = analysisPerEdit(text);
  const client = new LspClient();
  try {
    await client.initialize();
    const uri = 'file:///bench/images.nix';
    let version = 1;
    client.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'nix', version, text } });
    const opened = await client.diagnostics(uri, version);
    if (opened.params.diagnostics.length !== inProcess.diagnostics.length) throw new Error('the server and check disagree on the diagnostics');

    const latencies: number[] = [];
    for (let i = 0; i < TIMED_EDITS; i++) {
      version++;
      const published = client.diagnostics(uri, version);
      const t0 = performance.now();
      client.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [keystroke(text, version)] });
      await published;
      latencies.push(performance.now() - t0);
      // A pause between keystrokes, as a person types: each edit is analysed on its own.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    let afterFirst = 0;
    let afterAll = 0;
    if (withMemory) {
      for (let edits = 0; edits < MEMORY_EDITS; edits += BURST) {
        for (let k = 0; k < BURST; k++) {
          version++;
          client.notify('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [keystroke(text, version)] });
        }
        await client.diagnostics(uri, version);
        client.received.length = 0;
        if (edits + BURST === FIRST_EDITS) afterFirst = residentKiB(client.process.pid!);
      }
      afterAll = residentKiB(client.process.pid!);
    }
    await client.shutdown();

    const median = percentile(latencies, 0.5);
    const p95 = percentile(latencies, 0.95);
    const growth = afterAll / afterFirst - 1;
    const verdict = (ok: boolean) => (ok ? 'ok' : 'OVER TARGET');
    console.log(
      `${name}: ${text.split('\n').length} lines, ${inProcess.callSites.length} call sites; analysis per edit in process: ${incrementalMs.toFixed(1)} ms from the previous tree, ${freshMs.toFixed(1)} ms fresh (×${(freshMs / incrementalMs).toFixed(1)})`,
    );
    console.log(
      `  didChange → publishDiagnostics over ${TIMED_EDITS} edits: median ${median.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (target ≤ ${LATENCY_TARGET_MS} ms: ${verdict(median <= LATENCY_TARGET_MS)})`,
    );
    if (!withMemory) return;
    console.log(
      `  resident memory: ${(afterFirst / 1024).toFixed(1)} MiB after ${FIRST_EDITS} edits, ${(afterAll / 1024).toFixed(1)} MiB after ${MEMORY_EDITS} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%; target ≤ +${MEMORY_GROWTH_TARGET * 100}%: ${verdict(growth <= MEMORY_GROWTH_TARGET)})`,
    );
  } finally {
    client.kill();
  }
}

await measure('typical file (a call every 40 blocks)', generate(LINES, 40), true);
// Ten thousand analyses of 200 calls take too long to repeat for memory; latency only.
await measure('worst case (every block a call)', generate(LINES, 1), false);
