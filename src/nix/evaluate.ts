import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package.js';
import { OFFLINE_OPTIONS, runNixTool, type NixRun } from './run.js';
import { substituteNixpkgs } from './substitute.js';
import type { SerializedCall } from './serialized.js';

export const NIXLIB_DIR = path.join(PACKAGE_ROOT, 'nixlib');
const SHIM = path.join(NIXLIB_DIR, 'shim.nix');
/** Appended after the user's search path, so a real nixpkgs always wins. */
const STAND_IN_NIXPKGS = path.join(NIXLIB_DIR, 'nixpkgs');

export interface EvaluateRequest {
  /** The user's .nix file; relative to `cwd`. */
  file: string;
  /** nix-build's -A: dot-separated, `"quoted.parts"` allowed, list indices as numbers. */
  attr?: string;
  /** --arg NAME EXPR: EXPR is Nix code, evaluated with `cwd` as the base of relative paths. */
  args: { name: string; expr: string }[];
  /** --argstr NAME VALUE */
  argstrs: { name: string; value: string }[];
  /** -I entries (`path` or `prefix=path`), searched before NIX_PATH. */
  includes: string[];
  /** Defaults to the process's working directory. */
  cwd?: string;
}

export class NixEvaluationError extends Error {
  constructor(
    message: string,
    /** Nix's stderr as it came, for --verbose output. */
    readonly nixOutput: string,
  ) {
    super(message);
    this.name = 'NixEvaluationError';
  }
}

/**
 * Splits an attribute path the way nix-build's -A does: dots separate, double
 * quotes protect dots (`a."b.c"` is two names).
 */
export function parseAttrPath(attrPath: string): string[] {
  if (attrPath === '') return [];
  const names: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of attrPath) {
    if (char === '"') quoted = !quoted;
    else if (char === '.' && !quoted) {
      names.push(current);
      current = '';
    } else current += char;
  }
  if (quoted) throw new NixEvaluationError(`nixdisk: the attribute path \`${attrPath}\` has an unmatched quote`, '');
  names.push(current);
  const empty = names.findIndex((n) => n === '');
  if (empty >= 0) throw new NixEvaluationError(`nixdisk: the attribute path \`${attrPath}\` has an empty name`, '');
  return names;
}

/** A Nix string literal holding `text` exactly (`$` is escaped so `${` cannot start an interpolation). */
export function nixStringLiteral(text: string): string {
  return '"' + text.replace(/[\\"$]/g, (c) => '\\' + c) + '"';
}

/**
 * The part of Nix's stderr a user needs: the `error:` message with its location and
 * source excerpt, without warnings before it and without the --show-trace hint.
 * nixdisk's own messages from the shim lose their `nixdisk: ` prefix, which would
 * only repeat the tool's name after `error:`.
 */
export function nixErrorText(stderr: string): string {
  const lines = stderr.replace(/\s+$/, '').split('\n');
  const first = lines.findIndex((l) => l.startsWith('error:'));
  const kept = (first >= 0 ? lines.slice(first) : lines).filter(
    (l) => !/^\(use '--show-trace' to show detailed location information\)$/.test(l.trim()),
  );
  return kept
    .join('\n')
    .replace(/^error: nixdisk: /gm, 'error: ')
    .replace(/\s+$/, '');
}

/**
 * `<nixpkgs/nixos>` and the like: a file found on the Nix search path (-I, NIX_PATH), as
 * nix-build takes it, rather than a file name relative to the working folder.
 */
export function isSearchPathForm(file: string): boolean {
  return /^<[A-Za-z0-9._+\-/]+>$/.test(file);
}

/**
 * How one evaluation goes: every import intercepted, first looking `<nixpkgs>` up (a
 * nixpkgs on the search path ends the evaluation with its path); every import
 * intercepted without that; or plain imports with `<nixpkgs>` pointing at a substitute.
 */
export type EvaluationRoute = { lookUpNixpkgs: true } | { lookUpNixpkgs: false } | { substitutedNixpkgs: string };

/**
 * The nix-instantiate command line that evaluates one call site through the shim, by
 * `route`; a substituted nixpkgs is searched before the user's -I entries.
 */
export function evaluationArguments(request: EvaluateRequest, cwd: string, route: EvaluationRoute): string[] {
  const file = isSearchPathForm(request.file) ? request.file : nixStringLiteral(path.resolve(cwd, request.file));
  const attrPath = parseAttrPath(request.attr ?? '');
  const substitutedNixpkgs = 'substitutedNixpkgs' in route ? route.substitutedNixpkgs : undefined;
  const lookUp = 'lookUpNixpkgs' in route && route.lookUpNixpkgs ? ` standInNixpkgs = ${nixStringLiteral(STAND_IN_NIXPKGS)};` : '';
  const expr =
    `import ${nixStringLiteral(SHIM)} { file = ${file}; ` +
    `attrPath = builtins.fromJSON ${nixStringLiteral(JSON.stringify(attrPath))}; ` +
    `intercept = ${substitutedNixpkgs ? 'false' : 'true'};${lookUp} }`;
  return [
    '--eval',
    '--strict',
    '--json',
    // The shim's derivations must exist as .drv files afterwards, to be realised.
    '--read-write-mode',
    ...OFFLINE_OPTIONS,
    '--option',
    'extra-nix-path',
    `nixpkgs=${STAND_IN_NIXPKGS}`,
    ...(substitutedNixpkgs ? ['-I', `nixpkgs=${substitutedNixpkgs}`] : []),
    ...request.includes.flatMap((entry) => ['-I', entry]),
    '--expr',
    expr,
    ...request.args.flatMap(({ name, expr: value }) => ['--arg', name, value]),
    ...request.argstrs.flatMap(({ name, value }) => ['--argstr', name, value]),
    '-A',
    'call',
  ];
}

function isSerializedCall(value: unknown): value is SerializedCall {
  if (typeof value !== 'object' || value === null) return false;
  const { arguments: args, unknownArguments } = value as Record<string, unknown>;
  return typeof args === 'object' && args !== null && typeof unknownArguments === 'object' && unknownArguments !== null;
}

/**
 * Evaluates the user's file with the real Nix and returns the arguments of the
 * make-disk-image call that the file (or its attribute `attr`) evaluates to. When the
 * search path has a nixpkgs, it is evaluated against a substitute of it whose
 * make-disk-image.nix records the call (src/nix/substitute.ts), so Nix keeps its file
 * cache; a call that does not go through `<nixpkgs>` is then found by intercepting every
 * import instead (nixlib/shim.nix).
 */
export async function evaluateCallSite(request: EvaluateRequest): Promise<{ args: SerializedCall; route: 'substitute' | 'shim' }> {
  const cwd = request.cwd ?? process.cwd();
  // One Nix start-up for the usual case: the shim looks `<nixpkgs>` up before anything
  // else, and either evaluates the call (no nixpkgs but nixdisk's stand-in) or stops at
  // once with the nixpkgs it found, to be substituted. A second nix-instantiate for the
  // lookup, running beside, slowed the evaluation it ran beside by about 65 ms.
  const first = await runNixTool('nix-instantiate', evaluationArguments(request, cwd, { lookUpNixpkgs: true }), { cwd });
  const shim = () => runNixTool('nix-instantiate', evaluationArguments(request, cwd, { lookUpNixpkgs: false }), { cwd });
  // A failure may be the lookup's own (a search-path entry Nix cannot fetch offline),
  // which must not fail a file that never names <nixpkgs>: the shim alone decides.
  if (first.exitCode !== 0) return { args: parseCallOutput(await shim(), request), route: 'shim' };
  const found = nixpkgsFoundBy(first.stdout);
  if (found === undefined) return { args: parseCallOutput(first, request), route: 'shim' };
  const nixpkgs = await usableNixpkgs(found);
  if (nixpkgs) {
    const substituted = await evaluateWithSubstitute(request, cwd, nixpkgs);
    if (substituted) return { args: substituted, route: 'substitute' };
  }
  return { args: parseCallOutput(await shim(), request), route: 'shim' };
}

/** The nixpkgs path the shim's lookup stopped at, from its output; undefined when it evaluated the call. */
function nixpkgsFoundBy(stdout: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(stdout);
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as Record<string, unknown>).nixpkgsOnSearchPath === 'string') {
      return (parsed as { nixpkgsOnSearchPath: string }).nixpkgsOnSearchPath;
    }
  } catch {
    // Not JSON: parseCallOutput says so.
  }
  return undefined;
}

/** The call evaluated against a substitute of `nixpkgs`, or null when the file's call does not go through it. */
async function evaluateWithSubstitute(request: EvaluateRequest, cwd: string, nixpkgs: string): Promise<SerializedCall | null> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-nixpkgs-'));
  try {
    const substitute = path.join(work, 'nixpkgs');
    await substituteNixpkgs(nixpkgs, substitute, 'link');
    const run = await runNixTool('nix-instantiate', evaluationArguments(request, cwd, { substitutedNixpkgs: substitute }), { cwd });
    if (run.exitCode !== 0 && /is not a make-disk-image call/.test(run.stderr)) return null;
    return parseCallOutput(run, request);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function parseCallOutput(run: NixRun, request: EvaluateRequest): SerializedCall {
  const where = request.attr ? `attribute \`${request.attr}\` of ${request.file}` : request.file;
  if (run.exitCode !== 0) {
    throw new NixEvaluationError(`Nix could not evaluate ${where}:\n${nixErrorText(run.stderr)}`, run.stderr);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(run.stdout);
  } catch (err) {
    throw new NixEvaluationError(`nixdisk: nix-instantiate printed something that is not JSON for ${where}: ${String(err)}`, run.stderr);
  }
  if (!isSerializedCall(parsed)) {
    throw new NixEvaluationError(`nixdisk: the evaluation shim returned an unexpected shape for ${where}`, run.stderr);
  }
  return parsed;
}

/**
 * `found` (what `<nixpkgs>` names with the user's -I entries and NIX_PATH) when it is a
 * nixpkgs to substitute: it holds nixos/lib/make-disk-image.nix and is not nixdisk's own
 * stand-in under another name.
 */
async function usableNixpkgs(found: string): Promise<string | undefined> {
  const real = await realpath(found).catch(() => undefined);
  if (!real || real === (await realpath(STAND_IN_NIXPKGS))) return undefined;
  return (await stat(path.join(real, 'nixos', 'lib', 'make-disk-image.nix')).catch(() => undefined))?.isFile() ? real : undefined;
}

/**
 * `nix-instantiate FILE [-A ATTR]` for a file of ordinary derivations (no
 * make-disk-image call), e.g. a test fixture: the .drv paths, ready for `realise`.
 */
export async function instantiate(request: Pick<EvaluateRequest, 'file' | 'attr' | 'includes' | 'cwd'>): Promise<string[]> {
  const cwd = request.cwd ?? process.cwd();
  const run = await runNixTool(
    'nix-instantiate',
    [
      ...OFFLINE_OPTIONS,
      ...request.includes.flatMap((entry) => ['-I', entry]),
      path.resolve(cwd, request.file),
      ...(request.attr ? ['-A', request.attr] : []),
    ],
    { cwd },
  );
  if (run.exitCode !== 0) {
    throw new NixEvaluationError(`Nix could not instantiate ${request.file}:\n${nixErrorText(run.stderr)}`, run.stderr);
  }
  return run.stdout.split('\n').filter((line) => line !== '');
}

/** Nix 2.8 keeps flakes behind these experimental features; nixdisk turns them on for its own calls. */
export const FLAKE_FEATURES = ['--extra-experimental-features', 'nix-command flakes'];

/** The recorder's attribute holding the serialized call (nixlib/recorder.nix). */
const CALL_MARKER = '__nixdiskMakeDiskImageCall';

export interface FlakeRequest {
  /** `DIR#attr.path` (any flake reference before the `#`). */
  installable: string;
  /** The input that is nixpkgs; its make-disk-image.nix is the one replaced. */
  nixpkgsInput: string;
  cwd?: string;
}

/** Splits `ref#attr` as nix build does; the attribute is required here (a call, not a package). */
export function parseFlakeInstallable(installable: string): { ref: string; attr: string } {
  const at = installable.indexOf('#');
  if (at < 0 || at === installable.length - 1) {
    throw new NixEvaluationError(`nixdisk: \`${installable}\` names no attribute; write FLAKE#nixosConfigurations.HOST.config.system.build.NAME`, '');
  }
  const ref = installable.slice(0, at);
  return { ref: ref === '' ? '.' : ref, attr: installable.slice(at + 1) };
}

/**
 * Evaluates a make-disk-image call inside a flake (e.g. a NixOS configuration's
 * `config.system.build.NAME`), with the flake's nixpkgs input overridden by a copy in
 * which make-disk-image.nix records the call: the flake, its lock file and every other
 * input stay as they are. Works offline for inputs already in the store.
 */
export async function evaluateFlakeCall(request: FlakeRequest): Promise<{ args: SerializedCall; route: 'substitute' }> {
  const cwd = request.cwd ?? process.cwd();
  const { ref, attr } = parseFlakeInstallable(request.installable);
  const archive = await runNixTool('nix', [...FLAKE_FEATURES, ...OFFLINE_OPTIONS, 'flake', 'archive', '--json', '--dry-run', '--no-write-lock-file', ref], { cwd });
  if (archive.exitCode !== 0) throw new NixEvaluationError(`Nix could not read the flake ${ref}:\n${nixErrorText(archive.stderr)}`, archive.stderr);
  const inputs = (JSON.parse(archive.stdout) as { inputs?: Record<string, { path?: string }> }).inputs ?? {};
  const nixpkgs = inputs[request.nixpkgsInput]?.path;
  if (!nixpkgs) {
    const names = Object.keys(inputs);
    throw new NixEvaluationError(
      `nixdisk: the flake ${ref} has no input \`${request.nixpkgsInput}\` (its inputs: ${names.length > 0 ? names.join(', ') : 'none'}); name the one that is nixpkgs with --nixpkgs-input`,
      '',
    );
  }
  const work = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-nixpkgs-'));
  try {
    const substitute = path.join(work, 'nixpkgs');
    await substituteNixpkgs(nixpkgs, substitute, 'copy');
    const run = await runNixTool(
      'nix',
      [...FLAKE_FEATURES, ...OFFLINE_OPTIONS, 'eval', '--json', '--no-write-lock-file',
        '--override-input', request.nixpkgsInput, `path:${substitute}`, `${ref}#${attr}`, '--apply', `v: v.${CALL_MARKER} or null`],
      { cwd },
    );
    if (run.exitCode !== 0) throw new NixEvaluationError(`Nix could not evaluate ${request.installable}:\n${nixErrorText(run.stderr)}`, run.stderr);
    const parsed: unknown = JSON.parse(run.stdout);
    if (parsed === null) {
      throw new NixEvaluationError(
        `nixdisk: ${request.installable} is not a make-disk-image call from the flake's \`${request.nixpkgsInput}\` input; point at config.system.build.NAME whose value is the call`,
        run.stderr,
      );
    }
    if (!isSerializedCall(parsed)) throw new NixEvaluationError(`nixdisk: the recorder returned an unexpected shape for ${request.installable}`, run.stderr);
    return { args: parsed, route: 'substitute' };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
