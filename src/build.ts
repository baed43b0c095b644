/**
 * `nixdisk build` from a .nix file: Nix evaluates the call (nix/), the same defaults and
 * rules as `check` turn the arguments into ImageOptions (analysis/), Nix realises the
 * closure, and the image pipeline writes the output (image/).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { analyzeFile, checkArguments, type AnalyzedCallSite } from './analysis/analyze.js';
import type { Diagnostic } from './analysis/diagnostic.js';
import { valueFromJson, valueToJson } from './analysis/from-json.js';
import { toImageOptions } from './analysis/to-options.js';
import type { Attr } from './analysis/value.js';
import { step, type EventSink } from './events.js';
import type { BuildImageRequest, BuiltImage } from './image/build-image.js';
import type { Compression } from './image/convert.js';
import { OutputDir } from './image/output-dir.js';
import { hostStore, type Closure } from './nix/closure.js';
import { evaluateCallSite, evaluateFlakeCall, isSearchPathForm, type EvaluateRequest } from './nix/evaluate.js';
import {
  installablesOf,
  isSerializedDerivation,
  isSerializedString,
  type SerializedCall,
} from './nix/serialized.js';
import { stopToolsOn } from './tools.js';
import { NO_RANGE } from './syntax/range.js';

/**
 * The image pipeline's code, loaded on first use and shared after: `nixdisk build`
 * starts loading it while Nix evaluates, when compiling it (some 20 ms) costs no time.
 */
let pipeline: Promise<typeof import('./image/build-image.js')> | undefined;
function imagePipeline(): Promise<typeof import('./image/build-image.js')> {
  return (pipeline ??= import('./image/build-image.js'));
}

export interface BuildRequest extends EvaluateRequest {
  /** `file` is a flake installable (`DIR#nixosConfigurations.HOST.config.system.build.NAME`), its nixpkgs the named input. */
  flake?: { nixpkgsInput: string };
  outDir: string;
  compression: Compression;
  workRoot?: string;
  signal?: AbortSignal;
  emit: EventSink;
}

/** The call's arguments broke make-disk-image's rules; `diagnostics` says how. */
export class ArgumentsError extends Error {
  constructor(
    readonly file: string,
    readonly diagnostics: Diagnostic[],
  ) {
    super(`the make-disk-image arguments in ${file} have ${diagnostics.length} error(s)`);
    this.name = 'ArgumentsError';
  }
}

/** Evaluates, realises and builds; every tool it starts stops when `request.signal` aborts. */
export function buildFromFile(request: BuildRequest): Promise<BuiltImage & { warnings: Diagnostic[] }> {
  return stopToolsOn(request.signal, () => evaluateAndBuild(request));
}

async function evaluateAndBuild(request: BuildRequest): Promise<BuiltImage & { warnings: Diagnostic[] }> {
  const { emit, signal } = request;
  const started = performance.now();
  // Before any Nix work: a refused output folder should not cost a realise first.
  await OutputDir.assertReplaceable(request.outDir);
  imagePipeline().catch(() => undefined);
  const { args: call } = await step(emit, 'evaluate', `evaluating ${request.file}${request.attr ? ` -A ${request.attr}` : ''}`, async () => {
    const evaluated = request.flake
      ? await evaluateFlakeCall({ installable: request.file, nixpkgsInput: request.flake.nixpkgsInput, cwd: request.cwd })
      : await evaluateCallSite(request);
    emit({ type: 'log', step: 'evaluate', line: EVALUATION_ROUTES[evaluated.route] });
    return evaluated;
  });
  signal?.throwIfAborted();
  // A search-path form or a flake names no file of the user's to point diagnostics into.
  const file = isSearchPathForm(request.file) || request.flake ? undefined : path.resolve(request.cwd ?? process.cwd(), request.file);
  return buildEvaluatedCall(call, {
    file: file ? await readFile(file, 'utf8').then((text) => ({ path: file, text }), () => ({ path: file, text: '' })) : undefined,
    origin: request.attr ? `${request.file} -A ${request.attr}` : request.file,
    storePaths: hostStore((line) => emit({ type: 'log', step: 'realise', line })),
    outDir: request.outDir,
    compression: request.compression,
    workRoot: request.workRoot,
    signal,
    emit,
    started,
  });
}

const EVALUATION_ROUTES = {
  substitute: "evaluated against a copy of nixpkgs whose make-disk-image.nix records the call",
  shim: 'evaluated with every import of make-disk-image.nix intercepted',
} as const;

/**
 * Where the store paths come from once the arguments are known. `nixdisk build` realises
 * what the arguments refer to and reads the host's Nix database; a Nix builder has its
 * inputs already and reads the graph Nix exported into its build folder.
 */
export interface StorePathSource {
  realise?: (installables: string[]) => Promise<void>;
  /** The closure of the image's roots, with each path's registration. */
  closureOf: (roots: string[]) => Promise<Closure>;
}

/** The image pipeline's request, with the options and closure still to come from the call. */
export interface EvaluatedCallBuild extends Omit<BuildImageRequest, 'options' | 'closure'> {
  /** The file the call was evaluated from, to place diagnostics; absent in a Nix builder. */
  file?: { path: string; text: string };
  /** What the call came from when there is no file to point into (`<nixpkgs/nixos>`, a derivation). */
  origin?: string;
  storePaths: StorePathSource;
  started?: number;
}

/**
 * Everything after evaluation, shared by `nixdisk build` and the nix-build drop-in's
 * builder: make-disk-image's rules and defaults, the closure, the image pipeline.
 */
export async function buildEvaluatedCall(call: SerializedCall, build: EvaluatedCallBuild): Promise<BuiltImage & { warnings: Diagnostic[] }> {
  const { emit, signal } = build;
  const started = build.started ?? performance.now();
  const where = build.file?.path ?? build.origin ?? 'the make-disk-image call';
  const { args, diagnostics } = checkEvaluatedArguments(call, build.file);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new ArgumentsError(where, errors);
  const options = toImageOptions(args);

  const channel = !options.onlyNixStore && options.copyChannel && call.channel && isSerializedDerivation(call.channel) ? call.channel : null;
  const { realise: realiseInstallables, closureOf: closureOfRoots } = build.storePaths;
  if (realiseInstallables) {
    const installables = [...new Set([call.arguments, channel, call.defaultEfiVariables ?? null].flatMap((value) => (value ? installablesOf(value) : [])))].sort();
    await step(emit, 'realise', `realising ${installables.length} store path(s)`, () => realiseInstallables(installables));
    signal?.throwIfAborted();
  }
  const toplevel = call.arguments.config?.toplevel;
  const toplevelPath = toplevel && isSerializedDerivation(toplevel) ? toplevel.$out : toplevel && isSerializedString(toplevel) ? toplevel.$string : null;
  // FACTS §6.2: closureInfo over toplevel + the channel + additionalPaths.
  const roots = [...options.additionalPaths, ...(toplevelPath ? [toplevelPath] : []), ...(channel ? [channel.$out] : [])];
  const closure = await step(emit, 'closure', 'reading the closure', () => closureOfRoots(roots));
  signal?.throwIfAborted();

  const system = {
    toplevel: toplevelPath,
    channel: channel?.$out ?? null,
    channelMissing: call.channel && '$missing' in call.channel ? call.channel.$missing : null,
    config: (call.arguments.config ?? {}) as Record<string, unknown>,
  };
  const { file: _file, origin: _origin, storePaths: _storePaths, started: _started, ...request } = build;
  const { buildImage } = await imagePipeline();
  const built = await buildImage({ ...request, options, closure, system });
  emit({ type: 'done', outDir: built.outDir, image: built.imagePath, seconds: (performance.now() - started) / 1000 });
  return { ...built, warnings: diagnostics.filter((d) => d.severity !== 'error') };
}

/**
 * make-disk-image's rules and defaults on the evaluated arguments, each diagnostic placed
 * where `file` spells what it is about. Checked unplaced first: most builds have nothing
 * to report, and parsing the file (tree-sitter's native addon, its grammar, the call-site
 * query) only to place nothing was part of every build's start.
 */
export function checkEvaluatedArguments(call: SerializedCall, file: { path: string; text: string } | undefined): ReturnType<typeof checkArguments> {
  const unplaced = checkArgumentsAt(call, undefined);
  if (unplaced.diagnostics.length === 0 || !file) return unplaced;
  return checkArgumentsAt(call, evaluatedCallSite(analyzeFile(file.path, file.text).callSites, call));
}

/** The evaluated arguments as Values, checked; placed at `site`'s spelling of them when it is known. */
function checkArgumentsAt(call: SerializedCall, site: AnalyzedCallSite | undefined): ReturnType<typeof checkArguments> {
  const callRange = site?.range ?? NO_RANGE;
  const staticAttrs = site?.argument.kind === 'attrs' ? site.argument.attrs : undefined;
  const attrs = new Map<string, Attr>();
  const add = (name: string, json: unknown) => {
    const written = staticAttrs?.get(name);
    attrs.set(name, { value: valueFromJson(json, written?.value.range ?? callRange), nameRange: written?.nameRange ?? callRange });
  };
  for (const [name, value] of Object.entries(call.arguments)) {
    add(name, name === 'config' ? { $dynamic: 'the NixOS configuration' } : value);
  }
  for (const name of Object.keys(call.unknownArguments)) add(name, { $dynamic: 'an argument make-disk-image does not take' });
  if (call.defaultEfiVariables != null && !attrs.has('efiVariables')) {
    attrs.set('efiVariables', { value: valueFromJson(call.defaultEfiVariables, callRange), nameRange: callRange });
  }
  return checkArguments(attrs, callRange, callRange, UNSERIALIZED_ARGUMENTS);
}

/**
 * Arguments serialize-args.nix leaves out: the rules take them as given, and a static call
 * site's names are compared without them.
 */
const UNSERIALIZED_ARGUMENTS = new Set(['pkgs', 'lib']);

/**
 * The file's call site that `call` came from: the only one; or, when -A chose among
 * several, of those that spell exactly the evaluated argument names and whose statically
 * known plain values (strings, numbers, booleans, null) all equal the evaluated ones, the
 * one with the most such values. Undefined when that does not single one out.
 */
export function evaluatedCallSite(sites: readonly AnalyzedCallSite[], call: SerializedCall): AnalyzedCallSite | undefined {
  if (sites.length <= 1) return sites[0];
  const evaluated = new Map<string, unknown>([
    ...Object.entries(call.arguments),
    ...Object.keys(call.unknownArguments).map((name): [string, unknown] => [name, undefined]),
  ]);
  const scored = sites.flatMap((site) => {
    if (site.argument.kind !== 'attrs') return [];
    const names = [...site.argument.attrs.keys()].filter((name) => !UNSERIALIZED_ARGUMENTS.has(name));
    if (names.length !== evaluated.size || !names.every((name) => evaluated.has(name))) return [];
    let equal = 0;
    for (const [name, { value }] of site.argument.attrs) {
      if (!PLAIN_KINDS.has(value.kind) || !(name in call.arguments)) continue;
      if (valueToJson(value) !== evaluated.get(name)) return [];
      equal++;
    }
    return [{ site, equal }];
  });
  const best = Math.max(...scored.map((s) => s.equal));
  const winners = scored.filter((s) => s.equal === best);
  return winners.length === 1 ? winners[0]!.site : undefined;
}

const PLAIN_KINDS: ReadonlySet<string> = new Set(['string', 'int', 'float', 'bool', 'null']);
