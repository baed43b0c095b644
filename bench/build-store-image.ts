/**
 * `nixdisk build` speed on a store-only image of a ~0.9 GB, ~9k-file closure
 * (bench/fixtures/big-closure.nix), and on a full NixOS image whose system is that
 * closure (bench/fixtures/big-system.nix, an efi table, store + database + profiles,
 * systemd-boot on the ESP),
 * against two references measured in the same run:
 *
 * - floor: `tar cf` of the closure into one file, the least any image writer must do;
 * - naive: what make-disk-image amounts to without a VM: a `cp -a` staging copy (on
 *   /dev/shm when it has room, see roomyTmpfs), the nixpkgs auto-size formula (FACTS §5),
 *   `mkfs.ext4 -d` and one `qemu-img convert`.
 *
 * Every timing is the median of --runs runs with a warm page cache (the closure is read
 * once, untimed, before anything) and with earlier writes flushed (`sync`, untimed). Peak
 * RSS comes from one extra, untimed run per nixdisk variant: nixdisk's own peak from
 * inside (rss-hook.ts) and every tool's from `/usr/bin/time` wrappers placed first on
 * PATH, or from polling /proc when GNU time is not installed.
 *
 * nixdisk runs as users run it: the bundled bin dist/nixdisk.js, started by its own #! line.
 * Its parts per run are the step-done events it reports, plus "outside steps": the rest
 * of the wall time (starting node, loading the bundle, finishing the output), next to
 * which the report prints `nixdisk --version` alone.
 *
 * No fsync on either side, and that is the fair comparison: nixdisk, like tar and cp,
 * leaves write-back to the kernel, as Nix does for the outputs it registers (Nix 2.8
 * syncs its database, not store paths); an image that must survive a power cut right
 * after the build needs a `sync` whatever wrote it. Both sides write every byte into the page
 * cache of the same filesystem, and `timed` flushes before each run so that neither
 * pays for the other's write-back.
 *
 * Two more sections, run by default too (--sections picks among main, formats, closures):
 *
 * - formats: nixdisk's raw, vdi, vpc and qcow2-compressed builds of the same closure
 *   (--formats picks among them), timed and with the peak RSS of one untimed run each;
 *   and, when qcow2-compressed is among them, on one raw disk nixdisk wrote, `qemu-img
 *   convert -c -O qcow2` (zlib, as nixpkgs makes it) against nixdisk's own deflate of the
 *   same disk, time and size side by side;
 * - closures: generated closures of many files (bench/fixtures/generated-closure.nix,
 *   --closure-sizes MiB:files,…), each with its tar floor, nixdisk's raw build and its
 *   peak RSS, so growth with the closure shows.
 *
 * Run after `bash scripts/setup.sh` (it compiles the bench and bundles nixdisk):
 *   node dist/bench/build-store-image.js [--runs 3] [--json results.json] [--work-dir DIR]
 *     [--stage-dir DIR] [--rss-method auto|proc] [--sections main,formats,closures]
 *     [--formats raw,vdi,vpc,qcow2-compressed]
 *     [--closure-sizes 1024:10000,4096:70000]
 */
import { constants, rmSync } from 'node:fs';
import { access, chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa, type Options as ExecaOptions } from 'execa';
import { writeCompressedQcow2 } from '../src/image/disk/qcow2-compressed.js';
import { DEBIAN_PACKAGE_OF, toolSearchPath } from '../src/tools.js';
import { MiB, roundToNearest } from '../src/units.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'dist', 'nixdisk.js');
const RSS_HOOK = path.join(ROOT, 'dist', 'bench', 'rss-hook.js');
const FIXTURE = path.join(ROOT, 'bench', 'fixtures', 'big-closure.nix');
const GENERATED_FIXTURE = path.join(ROOT, 'bench', 'fixtures', 'generated-closure.nix');
const SYSTEM_FIXTURE = path.join(ROOT, 'bench', 'fixtures', 'big-system.nix');
const STANDIN = path.join(ROOT, 'examples', 'nixos-standin');
const GNU_TIME = '/usr/bin/time';

const MIN_CLOSURE_BYTES = 800e6;
const MIN_CLOSURE_FILES = 5000;
const TARGET_RAW_VS_FLOOR = 1.5;
const TARGET_QCOW2_VS_FLOOR = 2;
const TARGET_FULL_VS_FLOOR = 1.5;
const TARGET_PEAK_RSS_BYTES = 150e6;
const BLOCK = 4096;

type Format = 'raw' | 'qcow2' | 'qcow2-compressed' | 'vdi' | 'vpc';
type Codec = 'zlib' | 'zstd';

interface Variant {
  format: Format;
  codec: Codec;
  table: 'none' | 'efi';
  /** The Nix expression for the closure; the big-closure fixture when absent. */
  closure?: string;
  /** A full NixOS image (onlyNixStore = false) of big-system.nix rather than a store-only one. */
  full?: true;
}

interface Measured {
  name: string;
  group: 'floor' | 'naive' | 'nixdisk';
  variant?: Variant;
  seconds: number[];
  /** Seconds per pipeline part (naive: stage/size/mkfs/convert; nixdisk: its step-done events), one entry per run. */
  parts: Record<string, number[]>;
  imageBytes: number;
  allocatedBytes: number;
  rss?: RssReport;
}

interface ToolRun {
  tool: string;
  seconds: number | null;
  peakKiB: number;
  command: string;
}

interface RssReport {
  method: 'gnu-time' | 'proc-polling';
  nodeKiB: number;
  largestChild: ToolRun | null;
  tools: ToolRun[];
}

const { values: cli } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
    'work-dir': { type: 'string', default: os.tmpdir() },
    // "proc" forces the fallback used when GNU time is missing, to compare the two.
    'rss-method': { type: 'string', default: 'auto' },
    // Where the naive pipeline's staging copy goes; default /dev/shm when it has room (see roomyTmpfs).
    'stage-dir': { type: 'string' },
    sections: { type: 'string', default: 'main,formats,closures' },
    formats: { type: 'string', default: 'raw,vdi,vpc,qcow2-compressed' },
    'closure-sizes': { type: 'string', default: '1024:10000,4096:70000' },
  },
});
const SECTIONS = new Set(cli.sections!.split(','));
for (const section of SECTIONS) {
  if (!['main', 'formats', 'closures'].includes(section)) {
    console.error(`--sections lists main, formats or closures, not ${section}`);
    process.exit(2);
  }
}
const FORMATS_BUILT = ['raw', 'vdi', 'vpc', 'qcow2-compressed'] as const;
const FORMATS = cli.formats!.split(',') as (typeof FORMATS_BUILT)[number][];
for (const format of FORMATS) {
  if (!(FORMATS_BUILT as readonly string[]).includes(format)) {
    console.error(`--formats lists ${FORMATS_BUILT.join(', ')}, not ${format}`);
    process.exit(2);
  }
}
const CLOSURE_SIZES = cli['closure-sizes']!.split(',').map((pair) => {
  const [mib, files] = pair.split(':').map(Number);
  if (!Number.isInteger(mib) || !Number.isInteger(files) || mib! < 4 || files! < 4) {
    console.error(`--closure-sizes wants MiB:files pairs, not ${pair}`);
    process.exit(2);
  }
  return { mib: mib!, files: files! };
});
const RUNS = Number(cli.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error(`--runs wants a whole number ≥ 1, not ${cli.runs}`);
  process.exit(2);
}

const interrupted = new AbortController();
const toolEnv = { PATH: toolSearchPath(process.env.PATH) };

/** An external program, by argument array; Ctrl-C stops it. */
function run(command: string, args: string[], options: ExecaOptions = {}) {
  return execa(command, args, { cancelSignal: interrupted.signal, ...options, env: { ...toolEnv, ...options.env } });
}

async function timed(work: () => Promise<void>): Promise<number> {
  // Dirty pages from the previous run must not be written back on this run's clock.
  await run('sync', []);
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function exists(file: string, mode = constants.F_OK): Promise<boolean> {
  return access(file, mode).then(
    () => true,
    () => false,
  );
}

// ── the closure ────────────────────────────────────────────────────────────────

interface ClosureFacts {
  root: string;
  paths: string[];
  bytes: number;
  files: number;
  directories: number;
}

async function realiseClosure(nixBuildArgs: string[] = [FIXTURE]): Promise<ClosureFacts> {
  const built = await run('nix-build', ['--no-out-link', '--option', 'substituters', '', ...nixBuildArgs], { stderr: 'inherit' });
  const root = String(built.stdout).trim();
  const paths = String((await run('nix-store', ['-qR', root])).stdout).trim().split('\n');
  let bytes = 0;
  let files = 0;
  let directories = 0;
  const walk = async (entry: string): Promise<void> => {
    const info = await lstat(entry);
    if (!info.isDirectory()) {
      files++;
      bytes += info.size;
      return;
    }
    directories++;
    for (const name of await readdir(entry)) await walk(path.join(entry, name));
  };
  for (const storePath of paths) await walk(storePath);
  return { root, paths, bytes, files, directories };
}

/** Reads every byte of the closure once, so each timed step starts from the same warm cache. */
async function warmPageCache(paths: string[]): Promise<void> {
  // tar skips reading file data when its output is /dev/null; a pipe makes it read.
  const tar = execa('tar', ['cf', '-', ...paths], { cancelSignal: interrupted.signal, buffer: false, stderr: 'ignore' });
  tar.stdout.resume();
  await tar;
}

// ── floor and naive pipeline ──────────────────────────────────────────────────

async function floorRun(paths: string[], scratch: string): Promise<{ seconds: number; file: string }> {
  const file = path.join(scratch, 'floor.tar');
  const seconds = await timed(async () => {
    await run('tar', ['cf', file, ...paths]);
  });
  return { seconds, file };
}

/** nixpkgs' diskSize = "auto" with additionalSpace = "0M" and no partition table (FACTS §5, V2025); pure. */
function nixpkgsAutoDiskBytes(blocks: number, inodes: number, additionalBytes: number): number {
  const usage = (blocks + 2 * inodes) * BLOCK;
  const fudge = Math.floor((usage * 52) / 1000);
  const filesystem = roundToNearest(usage + fudge, BLOCK);
  return roundToNearest(filesystem + additionalBytes, MiB);
}

/** The formula's inputs as nixpkgs gathers them: `du` over every non-directory, `find | wc -l`. */
async function nixpkgsAutoSize(dir: string): Promise<number> {
  const du = await run('find', ['.', '!', '-type', 'd', '-print0'], { cwd: dir }).pipe('du', [
    '--files0-from=-',
    '--apparent-size',
    '--block-size',
    String(BLOCK),
    '--count-links',
  ], { cwd: dir });
  const blocks = du.stdout
    .split('\n')
    .filter((line) => line !== '')
    .reduce((sum, line) => sum + Number(line.split('\t')[0]), 0);
  const inodes = String((await run('find', ['.'], { cwd: dir })).stdout).split('\n').filter((line) => line !== '').length;
  return nixpkgsAutoDiskBytes(blocks, inodes, 0);
}

function convertArgs(input: string, output: string, variant: Variant): string[] {
  const args = ['convert', '-f', 'raw', '-O', 'qcow2'];
  if (variant.format === 'qcow2-compressed') {
    args.push('-c');
    if (variant.codec === 'zstd') args.push('-o', 'compression_type=zstd');
  }
  return [...args, input, output];
}

async function naiveRun(
  paths: string[],
  scratch: string,
  stageScratch: string,
  variant: Variant,
): Promise<{ seconds: number; parts: Record<string, number>; file: string }> {
  const stageDir = path.join(stageScratch, 'naive-root');
  const rawFile = path.join(scratch, 'naive.raw');
  const outFile = variant.format === 'raw' ? rawFile : path.join(scratch, 'naive.qcow2');
  const parts: Record<string, number> = {};
  const part = async (name: string, work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    parts[name] = (performance.now() - started) / 1000;
  };
  const seconds = await timed(async () => {
    await mkdir(stageDir);
    await part('stage', () => run('cp', ['-a', ...paths, stageDir + '/']));
    let sizeBytes = 0;
    await part('size', async () => {
      sizeBytes = await nixpkgsAutoSize(stageDir);
    });
    await part('mkfs', () => run('mkfs.ext4', ['-q', '-F', '-b', String(BLOCK), '-L', 'nix-store', '-d', stageDir, rawFile, `${sizeBytes / 1024}k`]));
    if (variant.format !== 'raw') await part('convert', () => run('qemu-img', convertArgs(rawFile, outFile, variant)));
  });
  // The staging tree and the intermediate raw file are the pipeline's leftovers, not its product.
  await rm(stageDir, { recursive: true, force: true });
  if (outFile !== rawFile) await rm(rawFile, { force: true });
  return { seconds, parts, file: outFile };
}

// ── nixdisk ───────────────────────────────────────────────────────────────────

function variantName(variant: Variant): string {
  const codec = variant.format === 'qcow2-compressed' ? ` (${variant.codec})` : '';
  const table = variant.table === 'none' ? '' : `, ${variant.table} table`;
  return `${variant.full ? 'full ' : ''}${variant.format}${codec}${table}`;
}

let callFilesWritten = 0;

async function writeCall(dir: string, variant: Variant): Promise<string> {
  const file = path.join(dir, `call-${variant.full ? 'full-' : ''}${variant.format}-${variant.codec}-${variant.table}-${callFilesWritten++}.nix`);
  // Store-only: the form of qemu-vm's store image, no partition table, no additional space.
  // Full: the system's closure under /nix/store with its database and profiles.
  // Full: the stand-in system's systemd-boot configuration (examples/nixos-standin) with
  // the big closure as its toplevel, so the ESP gets the loader, the entry and the
  // kernel/initrd copies as a real full image does.
  const image = variant.full
    ? `config = let standin = (import ${STANDIN} { }).config; in standin // {
    system = standin.system // { build = standin.system.build // { toplevel = import ${SYSTEM_FIXTURE}; }; };
    users.users.root = { uid = 0; group = "root"; };
    users.groups.root.gid = 0;
  };
  copyChannel = false;`
    : `config = { };
  onlyNixStore = true;
  installBootLoader = false;
  copyChannel = false;
  additionalPaths = [ (${variant.closure ?? `import ${FIXTURE}`}) ];`;
  await writeFile(
    file,
    `import <nixpkgs/nixos/lib/make-disk-image.nix> {
  pkgs = { };
  lib = { };
  ${image}
  additionalSpace = "0M";
  format = "${variant.format}";
  partitionTableType = "${variant.table}";
}
`,
  );
  return file;
}

interface NixdiskEvent {
  type: string;
  step?: string;
  seconds?: number;
  image?: string;
}

function parseEvents(stderr: string): NixdiskEvent[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as NixdiskEvent);
}

function nixdiskArgs(callFile: string, outDir: string, variant: Variant): string[] {
  return ['build', callFile, '-o', outDir, '--json', ...(variant.codec === 'zstd' ? ['--compression', 'zstd'] : [])];
}

async function nixdiskRun(callFile: string, scratch: string, variant: Variant): Promise<{ seconds: number; parts: Record<string, number>; file: string }> {
  const outDir = path.join(scratch, 'nixdisk-out');
  let events: NixdiskEvent[] = [];
  // TMPDIR puts nixdisk's own work folder inside the scratch folder, which cleanup removes.
  const seconds = await timed(async () => {
    events = parseEvents(String((await run(CLI, nixdiskArgs(callFile, outDir, variant), { env: { TMPDIR: scratch } })).stderr));
  });
  const parts: Record<string, number> = {};
  // A step may run more than once (a full image stages the system, then installs its loader): add them up.
  for (const event of events) if (event.type === 'step-done') parts[event.step!] = (parts[event.step!] ?? 0) + event.seconds!;
  // Process start, loading the bundle, output and scratch clean-up: what no step reports.
  parts['outside steps'] = seconds - Object.values(parts).reduce((sum, part) => sum + part, 0);
  const done = events.find((event) => event.type === 'done');
  if (!done?.image) throw new Error(`nixdisk reported no image for ${variantName(variant)}`);
  return { seconds, parts, file: done.image };
}

/** One shell wrapper per tool nixdisk may run, recording each call's time and peak RSS with GNU time. */
async function writeToolWrappers(dir: string, log: string): Promise<void> {
  await mkdir(dir);
  const searchDirs = toolSearchPath(process.env.PATH).split(':');
  for (const tool of [...Object.keys(DEBIAN_PACKAGE_OF), 'cp', 'rm', 'bash']) {
    let real: string | undefined;
    for (const candidate of searchDirs.map((searchDir) => path.join(searchDir, tool))) {
      if (await exists(candidate, constants.X_OK)) {
        real = candidate;
        break;
      }
    }
    if (!real) continue;
    const wrapper = path.join(dir, tool);
    await writeFile(wrapper, `#!/bin/sh\nexec ${GNU_TIME} -a -o '${log}' -f '${tool} %e %M %C' '${real}' "$@"\n`);
    await chmod(wrapper, 0o755);
  }
}

function parseToolLog(text: string): ToolRun[] {
  const runs: ToolRun[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\S+) (\d+(?:\.\d+)?) (\d+) (.*)$/.exec(line);
    if (match) runs.push({ tool: match[1]!, seconds: Number(match[2]), peakKiB: Number(match[3]), command: match[4]! });
  }
  return runs;
}

/** Polls the process tree under `pid` for each descendant's VmHWM (its peak RSS so far). */
function pollDescendants(pid: number): { stop: () => ToolRun[] } {
  const peaks = new Map<number, ToolRun>();
  const readStatus = async (child: number): Promise<void> => {
    const status = await readFile(`/proc/${child}/status`, 'utf8').catch(() => '');
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    const name = /^Name:\s+(.*)$/m.exec(status);
    if (!hwm || !name) return;
    const peakKiB = Number(hwm[1]);
    if (peakKiB > (peaks.get(child)?.peakKiB ?? -1)) peaks.set(child, { tool: name[1]!, seconds: null, peakKiB, command: name[1]! });
  };
  const poll = async (): Promise<void> => {
    const parents = new Map<number, number>();
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      // The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields.length > 1) parents.set(Number(entry), Number(fields[1]));
    }
    const isDescendant = (candidate: number): boolean => {
      for (let current = parents.get(candidate); current !== undefined && current > 1; current = parents.get(current)) {
        if (current === pid) return true;
      }
      return false;
    };
    await Promise.all([...parents.keys()].filter(isDescendant).map(readStatus));
  };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void poll().finally(() => (busy = false));
  }, 25);
  return {
    stop: () => {
      clearInterval(timer);
      return [...peaks.values()];
    },
  };
}

async function nixdiskRssRun(callFile: string, scratch: string, variant: Variant, haveGnuTime: boolean): Promise<RssReport> {
  const outDir = path.join(scratch, 'nixdisk-out');
  const rssFile = path.join(scratch, 'node-rss');
  const wrappers = path.join(scratch, 'wrappers');
  const log = path.join(scratch, 'tools.log');
  const env: Record<string, string> = { TMPDIR: scratch, NIXDISK_BENCH_RSS_FILE: rssFile };
  if (haveGnuTime) {
    await writeToolWrappers(wrappers, log);
    env.PATH = `${wrappers}:${toolEnv.PATH}`;
  }
  let tools: ToolRun[];
  try {
    const child = run(CLI, nixdiskArgs(callFile, outDir, variant), { env: { ...env, NODE_OPTIONS: `--import=${RSS_HOOK}` } });
    const poller = haveGnuTime ? undefined : pollDescendants(child.pid!);
    try {
      await child;
    } finally {
      tools = poller ? poller.stop() : [];
    }
    if (haveGnuTime) tools = parseToolLog(await readFile(log, 'utf8'));
  } finally {
    await rm(outDir, { recursive: true, force: true });
    await rm(wrappers, { recursive: true, force: true });
    await rm(log, { force: true });
  }
  const nodeKiB = Number(await readFile(rssFile, 'utf8'));
  await rm(rssFile);
  const largestChild = tools.reduce<ToolRun | null>((best, tool) => (best === null || tool.peakKiB > best.peakKiB ? tool : best), null);
  return { method: haveGnuTime ? 'gnu-time' : 'proc-polling', nodeKiB, largestChild, tools };
}

// ── the report ────────────────────────────────────────────────────────────────

const MB = (bytes: number) => (bytes / 1e6).toFixed(0);
const kibToMB = (kib: number) => ((kib * 1024) / 1e6).toFixed(0);

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function printTable(results: Measured[], floor: number, naiveOf: (variant: Variant) => Measured | undefined): void {
  const header = ['step', 'median s', '× floor', '× naive', 'image MB', 'on disk MB', 'peak RSS MB (node / largest child)'];
  const rows = results.map((result) => {
    const m = median(result.seconds);
    const naive = result.group === 'nixdisk' && result.variant ? naiveOf(result.variant) : undefined;
    const rss = result.rss
      ? `${kibToMB(result.rss.nodeKiB)} / ${result.rss.largestChild ? `${kibToMB(result.rss.largestChild.peakKiB)} (${result.rss.largestChild.tool})` : '—'}`
      : '';
    return [
      result.name,
      m.toFixed(2),
      (m / floor).toFixed(2),
      naive ? (m / median(naive.seconds)).toFixed(2) : '',
      MB(result.imageBytes),
      MB(result.allocatedBytes),
      rss,
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => pad(cell, widths[column]!, column > 0 && column < 6)).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '─'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** The median time of `nixdisk --version`: starting node and loading the bundle, the floor of "outside steps". */
async function startUpSeconds(): Promise<number> {
  const seconds: number[] = [];
  for (let round = 0; round < RUNS; round++) {
    const started = performance.now();
    await run(CLI, ['--version']);
    seconds.push((performance.now() - started) / 1000);
  }
  return median(seconds);
}

function partsSummary(result: Measured): string {
  return Object.entries(result.parts)
    .map(([name, values]) => `${name} ${median(values).toFixed(2)}`)
    .join(', ');
}

interface Target {
  name: string;
  limit: string;
  measured: string;
  pass: boolean;
}

// ── main ──────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  for (const file of [CLI, RSS_HOOK]) {
    if (!(await exists(file))) throw new Error(`${file} is missing: run \`npx tsc -p tsconfig.json\` first`);
  }
  if (!['auto', 'proc'].includes(cli['rss-method']!)) throw new Error(`--rss-method is auto or proc, not ${cli['rss-method']}`);
  const gnuTimeInstalled = await exists(GNU_TIME, constants.X_OK);
  if (!gnuTimeInstalled) console.log(`${GNU_TIME} is missing (Debian package 'time'): child peak RSS comes from polling /proc instead`);
  const haveGnuTime = gnuTimeInstalled && cli['rss-method'] === 'auto';

  let closure: ClosureFacts | undefined;
  if (SECTIONS.has('main') || SECTIONS.has('formats')) {
    console.log(`realising ${path.relative(ROOT, FIXTURE)} (untimed; slow only the first time)…`);
    closure = await realiseClosure();
    console.log(`closure: ${closure.paths.length} store paths, ${MB(closure.bytes)} MB, ${closure.files} files, ${closure.directories} directories`);
    if (closure.bytes < MIN_CLOSURE_BYTES || closure.files < MIN_CLOSURE_FILES) {
      throw new Error(`the closure is smaller than the benchmark needs (≥ ${MB(MIN_CLOSURE_BYTES)} MB, ≥ ${MIN_CLOSURE_FILES} files)`);
    }
  }

  const scratch = await mkdtemp(path.join(cli['work-dir'], 'nixdisk-bench-'));
  const stageBase = cli['stage-dir'] ?? (await roomyTmpfs(2 * (closure?.bytes ?? 0))) ?? cli['work-dir'];
  const stageScratch = await mkdtemp(path.join(stageBase, 'nixdisk-bench-stage-'));
  let forced = false;
  const onSignal = () => {
    if (forced || interrupted.signal.aborted) {
      rmSync(scratch, { recursive: true, force: true });
      rmSync(stageScratch, { recursive: true, force: true });
      process.exit(130);
    }
    forced = true;
    console.error('\ninterrupted: stopping the running step and removing the scratch folder (Ctrl-C again to quit at once)');
    interrupted.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const json: Record<string, unknown> = { machine: { cpus: os.cpus().length, memoryBytes: os.totalmem(), node: process.version, loadAverage: os.loadavg() }, runs: RUNS };
    if (SECTIONS.has('main')) {
      console.log(`naive staging copies go to ${stageBase}`);
      await warmPageCache(closure!.paths);
      const results = await measureAll(closure!, scratch, stageScratch, haveGnuTime);
      json.main = await report(closure!, results, haveGnuTime, stageBase);
    }
    if (SECTIONS.has('formats')) {
      await warmPageCache(closure!.paths);
      json.formats = await measureFormats(closure!, scratch, haveGnuTime);
    }
    if (SECTIONS.has('closures')) json.closures = await measureClosures(scratch, haveGnuTime);
    if (cli.json) {
      await writeFile(cli.json, JSON.stringify(json, null, 2) + '\n');
      console.log(`\nresults written to ${cli.json}`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(stageScratch, { recursive: true, force: true });
  }
}

/**
 * /dev/shm when it is a tmpfs with `bytes` free. The naive pipeline's `cp -a` creates an
 * inode per file, and on the host's ext4 that gets slower with every round: ext4 skips
 * inodes deleted in the last minutes (the kernel's recently_deleted check), and each
 * earlier round deleted ten thousand. On tmpfs the copy costs what it costs once.
 */
async function roomyTmpfs(bytes: number): Promise<string | undefined> {
  const TMPFS_MAGIC = 0x01021994;
  const info = await statfs('/dev/shm').catch(() => undefined);
  return info && info.type === TMPFS_MAGIC && info.bavail * info.bsize >= bytes ? '/dev/shm' : undefined;
}

async function sizes(file: string): Promise<{ imageBytes: number; allocatedBytes: number }> {
  const info = await stat(file);
  return { imageBytes: info.size, allocatedBytes: info.blocks * 512 };
}

interface Step {
  measured: Measured;
  once: () => Promise<{ seconds: number; parts?: Record<string, number>; file: string }>;
  /** Scratch entries the step leaves behind, removed after each run (untimed). */
  leftovers: string[];
}

/**
 * Runs every step once per round, round after round, rather than one step N times in a
 * row: whatever drifts during the benchmark (other load, the disk's write budget) then
 * touches every step alike instead of whichever happened to run last. Every other round
 * runs the steps backwards: the step right after the naive pipeline's gigabytes of
 * writes ran up to 1.4 s slower here while the kernel still reclaimed their memory, and
 * should not always be the same one.
 */
async function measureAll(closure: ClosureFacts, scratch: string, stageScratch: string, haveGnuTime: boolean): Promise<Measured[]> {
  const step = (name: string, group: Measured['group'], variant: Variant | undefined, once: Step['once'], leftovers: string[]): Step => ({
    measured: { name, group, variant, seconds: [], parts: {}, imageBytes: 0, allocatedBytes: 0 },
    once,
    leftovers,
  });
  const naiveVariants: Variant[] = [
    { format: 'raw', codec: 'zlib', table: 'none' },
    { format: 'qcow2', codec: 'zlib', table: 'none' },
    { format: 'qcow2-compressed', codec: 'zlib', table: 'none' },
    { format: 'qcow2-compressed', codec: 'zstd', table: 'none' },
  ];
  const nixdiskVariants: Variant[] = [...naiveVariants, { format: 'raw', codec: 'zlib', table: 'efi' }, { format: 'raw', codec: 'zlib', table: 'efi', full: true }];
  const calls = path.join(scratch, 'calls');
  await mkdir(calls);
  const callFiles = new Map<Variant, string>();
  for (const variant of nixdiskVariants) callFiles.set(variant, await writeCall(calls, variant));

  const steps: Step[] = [
    step('floor: tar cf', 'floor', undefined, () => floorRun(closure.paths, scratch), ['floor.tar']),
    ...naiveVariants.map((variant) =>
      step(`naive: ${variantName(variant)}`, 'naive', variant, () => naiveRun(closure.paths, scratch, stageScratch, variant), ['naive.raw', 'naive.qcow2']),
    ),
    ...nixdiskVariants.map((variant) =>
      step(`nixdisk: ${variantName(variant)}`, 'nixdisk', variant, () => nixdiskRun(callFiles.get(variant)!, scratch, variant), ['nixdisk-out']),
    ),
  ];

  for (let round = 1; round <= RUNS; round++) {
    console.log(`round ${round} of ${RUNS}:`);
    for (const { measured, once, leftovers } of round % 2 === 1 ? steps : [...steps].reverse()) {
      try {
        const result = await once();
        measured.seconds.push(result.seconds);
        for (const [part, seconds] of Object.entries(result.parts ?? {})) (measured.parts[part] ??= []).push(seconds);
        Object.assign(measured, await sizes(result.file));
        process.stdout.write(`  ${pad(measured.name, 34)} ${result.seconds.toFixed(2)} s\n`);
      } finally {
        for (const entry of leftovers) await rm(path.join(scratch, entry), { recursive: true, force: true });
      }
    }
  }

  console.log('peak RSS, one untimed run per nixdisk variant:');
  for (const { measured } of steps) {
    if (measured.group !== 'nixdisk') continue;
    measured.rss = await nixdiskRssRun(callFiles.get(measured.variant!)!, scratch, measured.variant!, haveGnuTime);
    process.stdout.write(`  ${pad(measured.name, 34)} node ${kibToMB(measured.rss.nodeKiB)} MB\n`);
  }
  return steps.map(({ measured }) => measured);
}

async function report(closure: ClosureFacts, results: Measured[], haveGnuTime: boolean, stageBase: string): Promise<unknown> {
  const floor = median(results.find((result) => result.group === 'floor')!.seconds);
  const naiveOf = (variant: Variant) =>
    results.find((result) => result.group === 'naive' && result.variant!.format === variant.format && result.variant!.codec === variant.codec);
  const nixdisk = (format: Format, codec: Codec, table: Variant['table'], full = false) =>
    results.find(
      (result) =>
        result.group === 'nixdisk' &&
        result.variant!.format === format &&
        result.variant!.codec === codec &&
        result.variant!.table === table &&
        (result.variant!.full ?? false) === full,
    )!;

  console.log(`\nstore-only and full images of ${MB(closure.bytes)} MB in ${closure.files} files (${closure.paths.length} store paths), ` +
    `median of ${RUNS}, ${os.cpus().length} CPUs; naive staging in ${stageBase}; naive for "efi" is the naive raw image (no table)\n`);
  printTable(results, floor, naiveOf);

  console.log('\nwhere the time goes (medians, seconds):');
  for (const result of results) if (Object.keys(result.parts).length > 0) console.log(`  ${pad(result.name, 34)} ${partsSummary(result)}`);
  const startUp = await startUpSeconds();
  console.log(`  ${pad('nixdisk --version (start-up alone)', 34)} ${startUp.toFixed(2)}`);

  console.log(`\ntools nixdisk ran (one untimed run each, ${haveGnuTime ? 'GNU time wrappers' : '/proc polling, no per-call time'}):`);
  for (const result of results.filter((candidate) => candidate.rss)) {
    const byTool = new Map<string, { calls: number; seconds: number; peakKiB: number }>();
    for (const tool of result.rss!.tools) {
      // Only GNU time sees arguments; polling knows the program name alone.
      const key = tool.tool === 'mke2fs' && tool.command !== tool.tool ? (tool.command.includes(' -d ') ? 'mke2fs -d' : 'mke2fs (empty)') : tool.tool;
      const entry = byTool.get(key) ?? { calls: 0, seconds: 0, peakKiB: 0 };
      entry.calls++;
      entry.seconds += tool.seconds ?? 0;
      entry.peakKiB = Math.max(entry.peakKiB, tool.peakKiB);
      byTool.set(key, entry);
    }
    const summary = [...byTool.entries()]
      .sort((a, b) => b[1].seconds - a[1].seconds)
      .map(([tool, entry]) => `${tool} ×${entry.calls} ${haveGnuTime ? `${entry.seconds.toFixed(2)} s ` : ''}${kibToMB(entry.peakKiB)} MB`)
      .join('; ');
    console.log(`  ${pad(result.name, 34)} ${summary}`);
  }

  const rawRatio = median(nixdisk('raw', 'zlib', 'none').seconds) / floor;
  const qcow2Ratio = median(nixdisk('qcow2', 'zlib', 'none').seconds) / floor;
  const fullRatio = median(nixdisk('raw', 'zlib', 'efi', true).seconds) / floor;
  const rssReports = results.filter((result) => result.rss).map((result) => result.rss!);
  const nodePeak = Math.max(...rssReports.map((rss) => rss.nodeKiB)) * 1024;
  const childPeak = Math.max(...rssReports.map((rss) => rss.largestChild?.peakKiB ?? 0)) * 1024;
  const targets: Target[] = [
    { name: 'raw (no table) vs floor', limit: `≤ ${TARGET_RAW_VS_FLOOR}×`, measured: `${rawRatio.toFixed(2)}×`, pass: rawRatio <= TARGET_RAW_VS_FLOOR },
    { name: 'qcow2 (no table) vs floor', limit: `≤ ${TARGET_QCOW2_VS_FLOOR}×`, measured: `${qcow2Ratio.toFixed(2)}×`, pass: qcow2Ratio <= TARGET_QCOW2_VS_FLOOR },
    { name: 'full image (raw, efi) vs floor', limit: `≤ ${TARGET_FULL_VS_FLOOR}×`, measured: `${fullRatio.toFixed(2)}×`, pass: fullRatio <= TARGET_FULL_VS_FLOOR },
    { name: 'peak RSS, nixdisk (node)', limit: `≤ ${MB(TARGET_PEAK_RSS_BYTES)} MB`, measured: `${MB(nodePeak)} MB`, pass: nodePeak <= TARGET_PEAK_RSS_BYTES },
    { name: 'peak RSS, largest tool it ran', limit: `≤ ${MB(TARGET_PEAK_RSS_BYTES)} MB`, measured: `${MB(childPeak)} MB`, pass: childPeak <= TARGET_PEAK_RSS_BYTES },
  ];
  printTargets(targets);

  return {
    closure: { root: closure.root, paths: closure.paths.length, bytes: closure.bytes, files: closure.files, directories: closure.directories },
    naiveStagingDir: stageBase,
    floorSeconds: floor,
    results: results.map((result) => ({
      ...result,
      medianSeconds: median(result.seconds),
      ratioToFloor: median(result.seconds) / floor,
      ratioToNaive: result.group === 'nixdisk' && result.variant ? median(result.seconds) / median(naiveOf(result.variant)!.seconds) : null,
      medianParts: Object.fromEntries(Object.entries(result.parts).map(([name, values]) => [name, median(values)])),
    })),
    targets,
  };
}

// ── formats: vdi and vpc against raw, nixdisk's deflate against qemu-img's ────

const TARGET_DEFLATE_VS_QEMU_IMG = 0.5;
const TARGET_DEFLATE_SIZE_VS_QEMU_IMG = 1.02;
const TARGET_VDI_VPC_VS_RAW = 1.15;
const TARGET_CLOSURE_RATIO_SPREAD = 1.2;

function printTargets(targets: Target[]): void {
  console.log('\ntargets:');
  for (const target of targets) console.log(`  ${target.pass ? 'PASS' : 'FAIL'}  ${pad(target.name, 40)} ${pad(target.limit, 10)} measured ${target.measured}`);
}

/** Rows of [name, cells…] under a header, columns after the first right-aligned. */
function printRows(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => pad(cell, widths[column]!, column > 0)).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '─'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** Runs each of `work` once per round, every other round backwards (see measureAll), and returns each one's seconds. */
async function rounds<T extends string>(work: Record<T, () => Promise<number>>): Promise<Record<T, number[]>> {
  const names = Object.keys(work) as T[];
  const seconds = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<T, number[]>;
  for (let round = 1; round <= RUNS; round++) {
    for (const name of round % 2 === 1 ? names : [...names].reverse()) {
      seconds[name].push(await work[name]());
      process.stdout.write(`  ${pad(name, 40)} ${seconds[name].at(-1)!.toFixed(2)} s\n`);
    }
  }
  return seconds;
}

async function measureFormats(closure: ClosureFacts, scratch: string, haveGnuTime: boolean): Promise<unknown> {
  const compare = FORMATS.includes('qcow2-compressed');
  console.log(`\nformats: nixdisk builds of the same closure as ${FORMATS.join(', ')}${compare ? ', then one raw disk compressed two ways' : ''}`);
  const calls = path.join(scratch, 'format-calls');
  await mkdir(calls);
  const variantOf = (format: Format): Variant => ({ format, codec: 'zlib', table: 'none' });
  const built: Record<string, { seconds: number[]; bytes: number; nodeKiB: number }> = {};
  const callOf = new Map<Format, string>();
  for (const format of new Set<Format>([...FORMATS, 'raw'])) callOf.set(format, await writeCall(calls, variantOf(format)));
  const buildSeconds = await rounds(
    Object.fromEntries(
      FORMATS.map((format) => [
        `nixdisk build: ${format}`,
        async () => {
          const result = await nixdiskRun(callOf.get(format)!, scratch, variantOf(format));
          built[format] = { seconds: [], bytes: (await stat(result.file)).size, nodeKiB: 0 };
          await rm(path.join(scratch, 'nixdisk-out'), { recursive: true, force: true });
          return result.seconds;
        },
      ]),
    ),
  );
  console.log('peak RSS, one untimed run per format:');
  for (const format of FORMATS) {
    built[format]!.seconds = buildSeconds[`nixdisk build: ${format}`]!;
    built[format]!.nodeKiB = (await nixdiskRssRun(callOf.get(format)!, scratch, variantOf(format), haveGnuTime)).nodeKiB;
    process.stdout.write(`  ${pad(`nixdisk build: ${format}`, 40)} node ${kibToMB(built[format]!.nodeKiB)} MB\n`);
  }
  const compressed = compare ? await compressOneRawDisk(callOf.get('raw')!, scratch) : undefined;

  const rawSeconds = built.raw ? median(built.raw.seconds) : undefined;
  console.log(`\nformats, store-only image of ${MB(closure.bytes)} MB in ${closure.files} files, median of ${RUNS}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}\n`);
  printRows(
    ['nixdisk build', 'median s', '× raw build', 'image MB', 'peak RSS MB (node)'],
    FORMATS.map((format) => {
      const seconds = median(built[format]!.seconds);
      return [format, seconds.toFixed(2), rawSeconds ? (seconds / rawSeconds).toFixed(2) : '—', MB(built[format]!.bytes), kibToMB(built[format]!.nodeKiB)];
    }),
  );
  const targets: Target[] = [];
  if (compressed) {
    const { qemuSeconds, oursSeconds, outputBytes } = compressed;
    console.log(`\nthe same ${MB(compressed.diskBytes)} MB raw disk, compressed:\n`);
    printRows(
      ['compressor', 'median s', '× qemu-img', 'output MB', '× qemu-img size'],
      [
        ['qemu-img convert -c (zlib)', qemuSeconds.toFixed(2), '1.00', MB(outputBytes.qemu), '1.000'],
        ['nixdisk deflate (zlib)', oursSeconds.toFixed(2), (oursSeconds / qemuSeconds).toFixed(2), MB(outputBytes.nixdisk), (outputBytes.nixdisk / outputBytes.qemu).toFixed(3)],
      ],
    );
    targets.push(
      { name: 'nixdisk deflate vs qemu-img -c, time', limit: `≤ ${TARGET_DEFLATE_VS_QEMU_IMG}×`, measured: `${(oursSeconds / qemuSeconds).toFixed(2)}×`, pass: oursSeconds / qemuSeconds <= TARGET_DEFLATE_VS_QEMU_IMG },
      {
        name: 'nixdisk deflate vs qemu-img -c, size',
        limit: `≤ ${TARGET_DEFLATE_SIZE_VS_QEMU_IMG}×`,
        measured: `${(outputBytes.nixdisk / outputBytes.qemu).toFixed(3)}×`,
        pass: outputBytes.nixdisk / outputBytes.qemu <= TARGET_DEFLATE_SIZE_VS_QEMU_IMG,
      },
    );
  }
  for (const format of (['vdi', 'vpc'] as const).filter((candidate) => built[candidate] && rawSeconds)) {
    const ratio = median(built[format]!.seconds) / rawSeconds!;
    targets.push({ name: `${format} build vs raw build`, limit: `≤ ${TARGET_VDI_VPC_VS_RAW}×`, measured: `${ratio.toFixed(2)}×`, pass: ratio <= TARGET_VDI_VPC_VS_RAW });
  }
  const peak = Math.max(...FORMATS.map((format) => built[format]!.nodeKiB)) * 1024;
  targets.push({ name: 'peak RSS, nixdisk (node), every format', limit: `≤ ${MB(TARGET_PEAK_RSS_BYTES)} MB`, measured: `${MB(peak)} MB`, pass: peak <= TARGET_PEAK_RSS_BYTES });
  printTargets(targets);
  return { builds: built, compress: compressed, targets };
}

/** One raw disk nixdisk wrote (untimed), compressed by `qemu-img convert -c` and by nixdisk's deflate, round after round. */
async function compressOneRawDisk(
  rawCall: string,
  scratch: string,
): Promise<{ diskBytes: number; seconds: Record<string, number[]>; qemuSeconds: number; oursSeconds: number; outputBytes: { qemu: number; nixdisk: number } }> {
  const rawOut = path.join(scratch, 'raw-disk-out');
  const { file: rawDisk } = await nixdiskRun(rawCall, scratch, { format: 'raw', codec: 'zlib', table: 'none' });
  await rm(rawOut, { recursive: true, force: true });
  await rename(path.join(scratch, 'nixdisk-out'), rawOut);
  const raw = path.join(rawOut, path.basename(rawDisk));
  const diskBytes = (await stat(raw)).size;
  const qemuOut = path.join(scratch, 'qemu-img.qcow2');
  const oursOut = path.join(scratch, 'nixdisk.qcow2');
  const outputBytes = { qemu: 0, nixdisk: 0 };
  const qemuName = 'qemu-img convert -c -O qcow2 (zlib)';
  const oursName = 'nixdisk deflate (every core)';
  try {
    const seconds = await rounds({
      [qemuName]: async () => {
        const taken = await timed(async () => {
          await run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, qemuOut]);
        });
        outputBytes.qemu = (await stat(qemuOut)).size;
        await rm(qemuOut);
        return taken;
      },
      [oursName]: async () => {
        const taken = await timed(() => writeCompressedQcow2(raw, diskBytes, oursOut, { signal: interrupted.signal }));
        outputBytes.nixdisk = (await stat(oursOut)).size;
        await rm(oursOut);
        return taken;
      },
    });
    return { diskBytes, seconds, qemuSeconds: median(seconds[qemuName]!), oursSeconds: median(seconds[oursName]!), outputBytes };
  } finally {
    await rm(rawOut, { recursive: true, force: true });
  }
}

// ── closures of many files: time against the floor and peak RSS as they grow ──

async function measureClosures(scratch: string, haveGnuTime: boolean): Promise<unknown> {
  const measured: { mib: number; files: number; closure: Omit<ClosureFacts, 'paths'>; floor: number[]; nixdisk: number[]; nodeKiB: number }[] = [];
  for (const { mib, files } of CLOSURE_SIZES) {
    const args = [GENERATED_FIXTURE, '--arg', 'totalMiB', String(mib), '--arg', 'files', String(files)];
    console.log(`\nclosures: realising ${MB(mib * MiB)} MB / ${files} files (untimed; slow only the first time)…`);
    const closure = await realiseClosure(args);
    console.log(`closure: ${closure.paths.length} store paths, ${MB(closure.bytes)} MB, ${closure.files} files, ${closure.directories} directories`);
    await warmPageCache(closure.paths);
    const expression = `import ${GENERATED_FIXTURE} { totalMiB = ${mib}; files = ${files}; }`;
    const variant: Variant = { format: 'raw', codec: 'zlib', table: 'none', closure: expression };
    const calls = path.join(scratch, `closure-calls-${mib}`);
    await mkdir(calls);
    const call = await writeCall(calls, variant);
    const seconds = await rounds({
      [`tar cf (${mib} MiB)`]: async () => {
        const { seconds: floor } = await floorRun(closure.paths, scratch);
        await rm(path.join(scratch, 'floor.tar'), { force: true });
        return floor;
      },
      [`nixdisk raw (${mib} MiB)`]: async () => {
        const result = await nixdiskRun(call, scratch, variant);
        await rm(path.join(scratch, 'nixdisk-out'), { recursive: true, force: true });
        return result.seconds;
      },
    });
    const rss = await nixdiskRssRun(call, scratch, variant, haveGnuTime);
    measured.push({ mib, files, closure: { root: closure.root, bytes: closure.bytes, files: closure.files, directories: closure.directories }, floor: seconds[`tar cf (${mib} MiB)`]!, nixdisk: seconds[`nixdisk raw (${mib} MiB)`]!, nodeKiB: rss.nodeKiB });
  }
  console.log(`\ngenerated closures, store-only raw image, median of ${RUNS}, load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}\n`);
  const ratios = measured.map((entry) => median(entry.nixdisk) / median(entry.floor));
  printRows(
    ['closure', 'files', 'tar floor s', 'nixdisk raw s', '× floor', 'peak RSS MB (node)'],
    measured.map((entry, index) => [
      `${MB(entry.closure.bytes)} MB`,
      String(entry.closure.files),
      median(entry.floor).toFixed(2),
      median(entry.nixdisk).toFixed(2),
      ratios[index]!.toFixed(2),
      kibToMB(entry.nodeKiB),
    ]),
  );
  const spread = Math.max(...ratios) / Math.min(...ratios);
  const peak = Math.max(...measured.map((entry) => entry.nodeKiB)) * 1024;
  const targets: Target[] = [
    { name: 'ratio to floor, largest / smallest', limit: `≤ ${TARGET_CLOSURE_RATIO_SPREAD}×`, measured: `${spread.toFixed(2)}×`, pass: spread <= TARGET_CLOSURE_RATIO_SPREAD },
    { name: 'peak RSS, nixdisk (node), any closure', limit: `≤ ${MB(TARGET_PEAK_RSS_BYTES)} MB`, measured: `${MB(peak)} MB`, pass: peak <= TARGET_PEAK_RSS_BYTES },
  ];
  printTargets(targets);
  return { closures: measured, ratios, targets };
}

main().catch((error: unknown) => {
  if (interrupted.signal.aborted) {
    console.error('benchmark interrupted; scratch files removed');
    process.exitCode = 130;
    return;
  }
  console.error(`benchmark failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
