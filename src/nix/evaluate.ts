import path from 'node:path';
import { PACKAGE_ROOT } from '../package.js';
import { OFFLINE_OPTIONS, runNixTool } from './run.js';
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

/** The nix-instantiate command line that evaluates one call site through the shim. */
export function evaluationArguments(request: EvaluateRequest, cwd: string): string[] {
  const file = isSearchPathForm(request.file) ? request.file : nixStringLiteral(path.resolve(cwd, request.file));
  const attrPath = parseAttrPath(request.attr ?? '');
  const expr =
    `import ${nixStringLiteral(SHIM)} { file = ${file}; ` +
    `attrPath = builtins.fromJSON ${nixStringLiteral(JSON.stringify(attrPath))}; }`;
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
 * Evaluates the user's file with the real Nix, with every make-disk-image.nix
 * import intercepted (nixlib/shim.nix), and returns the arguments of the call that
 * the file (or its attribute `attr`) evaluates to.
 */
export async function evaluateCallSite(request: EvaluateRequest): Promise<{ args: SerializedCall }> {
  const cwd = request.cwd ?? process.cwd();
  const run = await runNixTool('nix-instantiate', evaluationArguments(request, cwd), { cwd });
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
  return { args: parsed };
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
