import { readFile } from 'node:fs/promises';
import { nixBase32, nixBase32FromHex } from './base32.js';
import { OFFLINE_OPTIONS, runNixTool } from './run.js';

/** One store path as the Nix database registers it. */
export interface StorePathInfo {
  path: string;
  /** `sha256:<nix base-32>`, the form closureInfo's registration uses. */
  narHash: string;
  narSize: number;
  /** The .drv the path was built from; null when unknown (closureInfo leaves it empty). */
  deriver: string | null;
  /** Sorted; a path that refers to itself lists itself. */
  references: string[];
}

export interface Closure {
  /** Sorted by path, so the same closure always gives the same order. */
  paths: StorePathInfo[];
  totalNarSize: number;
}

export class NixStoreError extends Error {
  constructor(
    message: string,
    readonly nixOutput: string,
  ) {
    super(message);
    this.name = 'NixStoreError';
  }
}

/**
 * A NAR hash in the registration's form. `nix-store --dump-db` prints bare base-16;
 * closureInfo writes `sha256:` with base-32; `nix-store --load-db` reads either.
 */
export function normalizeNarHash(hash: string): string {
  const sri = /^sha256-([A-Za-z0-9+/]{43}=)$/.exec(hash);
  if (sri) return `sha256:${nixBase32(Uint8Array.from(Buffer.from(sri[1]!, 'base64')))}`;
  const [algorithm, digest] = hash.includes(':') ? hash.split(':', 2) : ['sha256', hash];
  if (algorithm !== 'sha256' || !digest) throw new Error(`nixdisk: unsupported NAR hash \`${hash}\` (only sha256 is known)`);
  if (/^[0-9a-f]{64}$/i.test(digest)) return `sha256:${nixBase32FromHex(digest)}`;
  if (/^[0-9a-df-np-sv-z]{52}$/.test(digest)) return `sha256:${digest}`;
  throw new Error(`nixdisk: malformed sha256 NAR hash \`${hash}\``);
}

/**
 * The closureInfo `registration` file for these paths (FACTS §6.2): the deriver
 * line left empty as closureInfo does, no trailing blank line. `nix-store --load-db`
 * reads it.
 */
export function formatRegistration(paths: readonly StorePathInfo[]): string {
  return paths
    .flatMap((p) => [p.path, p.narHash, String(p.narSize), '', String(p.references.length), ...p.references])
    .map((line) => line + '\n')
    .join('');
}

export function closureFromInfos(infos: readonly StorePathInfo[]): Closure {
  const paths = [...infos].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { paths, totalNarSize: paths.reduce((sum, p) => sum + p.narSize, 0) };
}

/**
 * Builds (or checks) the given installables: `/nix/store/…drv!out` for one output,
 * a bare `.drv` for all of them, or an existing store path. Nix's log lines go to
 * `onProgress` as they come. Returns the output store paths, sorted.
 *
 * The results are not registered as GC roots: nothing here runs the collector
 * between realising and reading them.
 */
export async function realise(installables: string[], onProgress?: (line: string) => void): Promise<string[]> {
  if (installables.length === 0) return [];
  const run = await runNixTool('nix-store', ['--realise', ...OFFLINE_OPTIONS, ...installables], {
    onStderrLine: onProgress,
  });
  if (run.exitCode !== 0) {
    throw new NixStoreError(`Nix could not build ${describeList(installables)}:\n${lastLines(run.stderr, 40)}`, run.stderr);
  }
  return [...new Set(run.stdout.split('\n').filter((line) => line !== ''))].sort();
}

/** The store paths reachable from `storePaths` (included), with their registration. */
export async function closureOf(storePaths: string[]): Promise<Closure> {
  if (storePaths.length === 0) return { paths: [], totalNarSize: 0 };
  const { registered, invalid } = await registrationsOf(storePaths);
  if (invalid.length > 0) throw new NixStoreError(`Nix could not read the closure of ${describeList(storePaths)}: ${describeList(invalid)} ${invalid.length === 1 ? 'is' : 'are'} not valid (not built)`, '');
  return closureFromInfos(registered);
}

/**
 * The registrations of `storePaths` and of everything they refer to, and the paths
 * among them that are not valid, in one Nix start-up, where `nix-store --query
 * --requisites` then `--dump-db` took two.
 */
async function registrationsOf(storePaths: readonly string[]): Promise<PathInfos> {
  const run = await runNixTool('nix', ['--extra-experimental-features', 'nix-command', 'path-info', ...OFFLINE_OPTIONS, '--recursive', '--json', ...storePaths]);
  if (run.exitCode !== 0) {
    throw new NixStoreError(`Nix could not read the registration of ${describeList([...storePaths])}:\n${lastLines(run.stderr, 20)}`, run.stderr);
  }
  return parsePathInfo(run.stdout);
}

/** One path of `nix path-info --json`; newer Nix keys them by path and leaves `path` out. */
interface PathInfoJson {
  path?: string;
  /** false for a path that is not valid (Nix up to 2.18; later ones give null instead of the object). */
  valid?: boolean;
  narHash: string;
  narSize: number;
  references: string[];
  deriver?: string | null;
}

interface PathInfos {
  registered: StorePathInfo[];
  invalid: string[];
}

/**
 * `nix path-info --json`'s registrations: a list of objects with `path` (Nix up to
 * 2.18), or an object keyed by path (2.19 on), the hash in either of Nix's forms. Pure.
 */
export function parsePathInfo(json: string): PathInfos {
  const parsed = JSON.parse(json) as PathInfoJson[] | Record<string, PathInfoJson | null>;
  const entries: [string, PathInfoJson | null][] = Array.isArray(parsed) ? parsed.map((info) => [info.path ?? '', info]) : Object.entries(parsed);
  const result: PathInfos = { registered: [], invalid: [] };
  for (const [path, info] of entries) {
    if (!path.startsWith('/')) throw new Error(`nixdisk: nix path-info gave a registration without its store path: ${JSON.stringify(info)}`);
    if (info === null || info.valid === false) {
      result.invalid.push(path);
      continue;
    }
    if (!Number.isSafeInteger(info.narSize) || !Array.isArray(info.references)) throw new Error(`nixdisk: nix path-info gave a malformed registration for ${path}`);
    result.registered.push({ path, narHash: normalizeNarHash(info.narHash), narSize: info.narSize, deriver: info.deriver || null, references: [...info.references].sort() });
  }
  return result;
}

/**
 * The output paths a derivation's text (its ATerm `Derive([(name,path,…),…],…)`)
 * fixes, by output name; a content-addressed output, whose path is known only once
 * built, is left out. Pure.
 */
export function derivationOutputs(aterm: string): Map<string, string> {
  const outputs = new Map<string, string>();
  const list = /^Derive\(\[(.*?)\]\s*,\s*\[/s.exec(aterm)?.[1] ?? '';
  for (const [, name, path] of list.matchAll(/\("([^"]*)","([^"]*)","[^"]*","[^"]*"\)/g)) {
    if (path!.startsWith('/')) outputs.set(name!, path!);
  }
  return outputs;
}

/**
 * The store paths `installables` name (nix-store --realise's forms), read from their
 * derivations; null when one is not fixed before it is built, or its derivation
 * cannot be read.
 */
async function pathsOfInstallables(installables: readonly string[]): Promise<string[] | null> {
  const paths: string[] = [];
  for (const installable of installables) {
    const [storePath, output] = installable.split('!', 2) as [string, string | undefined];
    if (output === undefined && !storePath.endsWith('.drv')) {
      paths.push(storePath);
      continue;
    }
    const outputs = derivationOutputs(await readFile(storePath, 'utf8').catch(() => ''));
    const wanted = output === undefined ? [...outputs.values()] : [outputs.get(output)];
    if (wanted.length === 0 || wanted.some((p) => p === undefined)) return null;
    paths.push(...(wanted as string[]));
  }
  return paths;
}

/**
 * The host's store as `nixdisk build` uses it: `realise` builds what the arguments
 * name, `closureOf` reads the image's closure. When everything is built already (a
 * rebuild, a system built before), one query of the registrations stands for both:
 * realise only checks, and the closure is taken from what that query read.
 */
export function hostStore(onBuildLine?: (line: string) => void): { realise: (installables: string[]) => Promise<void>; closureOf: (roots: string[]) => Promise<Closure> } {
  let known: StorePathInfo[] | undefined;
  return {
    realise: async (installables) => {
      if (installables.length === 0) return;
      const paths = await pathsOfInstallables(installables);
      // A query Nix refuses is left to the realise and the closure query to explain.
      const found = paths && (await registrationsOf(paths).catch(() => null));
      if (found && found.invalid.length === 0) {
        known = found.registered;
        return;
      }
      await realise(installables, onBuildLine);
    },
    closureOf: async (roots) => {
      const graph = known;
      if (graph && roots.every((root) => graph.some((info) => root === info.path || root.startsWith(`${info.path}/`)))) {
        return closureFromGraph(graph.map((info) => ({ ...info, deriver: info.deriver ?? undefined })), roots);
      }
      return closureOf(roots);
    },
  };
}

/**
 * One entry of the graph Nix writes for `exportReferencesGraph` into a structured-attrs
 * builder's `.attrs.json` (Nix 2.8: also `closureSize`, and `ca` for content-addressed paths).
 */
export interface ExportedPathInfo {
  path: string;
  narHash: string;
  narSize: number;
  references: string[];
  deriver?: string;
}

/**
 * The closure of `roots` inside a graph Nix exported to a builder, which holds the
 * closure of every exported path: the same paths and registration `closureOf` reads from
 * the host's database, for builders that have no database (a sandbox, a remote builder).
 * Roots may name a file inside a store path, as make-disk-image's additionalPaths may.
 */
export function closureFromGraph(graph: readonly ExportedPathInfo[], roots: readonly string[], storeDir = '/nix/store'): Closure {
  const byPath = new Map(graph.map((entry) => [entry.path, entry]));
  const reached = new Map<string, StorePathInfo>();
  const visit = (storePath: string, from: string) => {
    if (reached.has(storePath)) return;
    const entry = byPath.get(storePath);
    if (!entry) throw new NixStoreError(`nixdisk: ${storePath} (${from}) is not in the closure Nix exported to this build`, '');
    reached.set(storePath, {
      path: entry.path,
      narHash: normalizeNarHash(entry.narHash),
      narSize: entry.narSize,
      deriver: entry.deriver ?? null,
      references: [...entry.references].sort(),
    });
    for (const reference of entry.references) visit(reference, `referred to by ${storePath}`);
  };
  for (const root of roots) visit(storePathOf(root, storeDir), 'a root of the image');
  return closureFromInfos([...reached.values()]);
}

/** The store path a file name lies in: `/nix/store/abc-x/bin/y` → `/nix/store/abc-x`. */
export function storePathOf(file: string, storeDir = '/nix/store'): string {
  const prefix = storeDir.replace(/\/+$/, '') + '/';
  if (!file.startsWith(prefix)) throw new NixStoreError(`nixdisk: ${file} is not in the Nix store (${storeDir})`, '');
  const name = file.slice(prefix.length).split('/')[0];
  if (!name) throw new NixStoreError(`nixdisk: ${file} names no store path`, '');
  return prefix + name;
}

/** The NAR hash of any file or directory tree, in the registration's form (for verify). */
export async function narHashOf(fileOrDirectory: string): Promise<string> {
  const run = await runNixTool('nix-hash', ['--type', 'sha256', '--base32', fileOrDirectory]);
  if (run.exitCode !== 0) throw new NixStoreError(`nix-hash failed on ${fileOrDirectory}:\n${run.stderr.trim()}`, run.stderr);
  return `sha256:${run.stdout.trim()}`;
}

function describeList(items: string[]): string {
  return items.length <= 3 ? items.join(', ') : `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}
