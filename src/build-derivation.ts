/**
 * The builder of nixlib/make-disk-image.nix's derivation: the arguments and the closure
 * come from the structured attributes Nix writes into the build folder, never from a
 * file to evaluate or the host's Nix database (a sandbox or a remote builder has none),
 * and the image goes to `$out` through the same path as `nixdisk build` after evaluation.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildEvaluatedCall } from './build.js';
import type { EventSink } from './events.js';
import type { BuiltImage } from './image/build-image.js';
import { closureFromGraph, type ExportedPathInfo } from './nix/closure.js';
import type { SerializedCall } from './nix/serialized.js';
import { stopToolsOn } from './tools.js';

/** The names nixlib/make-disk-image.nix gives its attributes; one definition on each side. */
export const DERIVATION_ATTRS = {
  /** serialize-args.nix's output for the call. */
  call: 'nixdiskCall',
  /** The exportReferencesGraph key: every store path the call refers to, with its closure. */
  closure: 'nixdiskClosure',
} as const;

export class DerivationAttrsError extends Error {
  override name = 'DerivationAttrsError';
}

interface DerivationAttrs {
  call: SerializedCall;
  graph: ExportedPathInfo[];
  out: string;
}

/** Reads and checks the builder's `.attrs.json` (the file Nix names in NIX_ATTRS_JSON_FILE). */
export function parseDerivationAttrs(json: unknown, where: string): DerivationAttrs {
  const attrs = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const call = attrs[DERIVATION_ATTRS.call] as SerializedCall | undefined;
  if (typeof call?.arguments !== 'object' || typeof call?.unknownArguments !== 'object') {
    throw new DerivationAttrsError(`${where} has no \`${DERIVATION_ATTRS.call}\`: this builder only runs derivations made by nixlib/make-disk-image.nix`);
  }
  const graph = attrs[DERIVATION_ATTRS.closure];
  if (!Array.isArray(graph)) {
    throw new DerivationAttrsError(`${where} has no \`${DERIVATION_ATTRS.closure}\` graph: the derivation needs __structuredAttrs = true and exportReferencesGraph.${DERIVATION_ATTRS.closure}`);
  }
  const out = (attrs.outputs as Record<string, unknown> | undefined)?.out;
  if (typeof out !== 'string') throw new DerivationAttrsError(`${where} names no \`out\` output`);
  return { call, graph: graph as ExportedPathInfo[], out };
}

/**
 * The attributes file of the running Nix build. It is `.attrs.json` in the build folder;
 * Nix 2.8 also names it in NIX_ATTRS_JSON_FILE, but with the host's path of the folder,
 * which a sandboxed builder (whose folder is /build) cannot open.
 */
export function attrsFileOf(env: NodeJS.ProcessEnv): string {
  if (env.NIX_BUILD_TOP) return path.join(env.NIX_BUILD_TOP, '.attrs.json');
  if (env.NIX_ATTRS_JSON_FILE) return env.NIX_ATTRS_JSON_FILE;
  throw new DerivationAttrsError('not inside a Nix build (neither NIX_BUILD_TOP nor NIX_ATTRS_JSON_FILE is set): `nixdisk build-derivation` is the builder of nixlib/make-disk-image.nix');
}

export async function buildDerivation(options: { env: NodeJS.ProcessEnv; emit: EventSink; signal?: AbortSignal }): Promise<BuiltImage> {
  const file = attrsFileOf(options.env);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new DerivationAttrsError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const { call, graph, out } = parseDerivationAttrs(json, file);
  const storeDir = options.env.NIX_STORE ?? '/nix/store';
  return stopToolsOn(options.signal, () =>
    buildEvaluatedCall(call, {
      storePaths: { closureOf: async (roots) => closureFromGraph(graph, roots, storeDir) },
      outDir: out,
      outputInPlace: true,
      compression: 'zlib',
      workRoot: options.env.NIX_BUILD_TOP,
      signal: options.signal,
      emit: options.emit,
    }),
  );
}
