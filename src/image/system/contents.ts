/**
 * make-disk-image's `contents` (FACTS §6.4), copied into the staged root before
 * anything else, as nixpkgs copies them before nixos-install: a source with `*` is a
 * glob whose every match lands inside the target; a directory's contents go to the
 * target; a file is copied to it. Modes are kept unless `mode` is given, which then
 * applies to everything copied, as rsync's `--chmod` does. Owners are not set on the
 * host (nixdisk needs no root): they are applied to the filesystem's entries by name.
 *
 * Differences from nixpkgs, on purpose: paths with spaces work (nixpkgs splits them);
 * a glob that matches nothing, a missing source, a duplicate target or a target that
 * leaves `/` is an error before anything is copied, not halfway through.
 */
import { lstat, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ContentsEntry } from '../../options.js';
import { runTool } from '../../tools.js';

export class ContentsError extends Error {
  override name = 'ContentsError';
}

/** One entry, checked: where it goes in the image, what is copied there. */
export interface PlannedContents {
  /** 1-based, as the error messages count. */
  index: number;
  /** Path in the image without the leading slash ('' is the root itself). */
  target: string;
  /** Host paths; for a glob every match, in byte order. */
  sources: string[];
  glob: boolean;
  /** Permission bits as a number, when `mode` was given. */
  mode: number | null;
  owner: { user: string; group: string } | null;
}

const GLOB_CHARS = /[*?[]/;

/** The target inside the image, or an error when it climbs out of `/`; pure. */
export function imagePathOf(target: string, where: string): string {
  if (target === '') throw new ContentsError(`${where}: the target is empty`);
  const parts: string[] = [];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw new ContentsError(`${where}: target "${target}" leaves the image's root /`);
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join('/');
}

/** An octal mode as rsync's --chmod takes it ("755", "0644"); pure. */
export function parseMode(mode: string, where: string): number {
  if (!/^[0-7]{1,4}$/.test(mode)) throw new ContentsError(`${where}: mode "${mode}" is not an octal mode such as "0644"`);
  return parseInt(mode, 8);
}

/**
 * Checks the entries that need no file system: targets, modes, user/group pairs,
 * two copies to one target; pure. (A copy into what an earlier entry copied is found
 * while copying, as nixpkgs finds it.)
 */
export function checkContents(entries: readonly ContentsEntry[]): Omit<PlannedContents, 'sources'>[] {
  const planned = entries.map((entry, i) => {
    const where = `contents entry ${i + 1} (target "${entry.target}")`;
    if ((entry.user === undefined) !== (entry.group === undefined)) {
      throw new ContentsError(`${where}: user and group must be set together or not at all, as nixpkgs asserts`);
    }
    return {
      index: i + 1,
      target: imagePathOf(entry.target, where),
      glob: GLOB_CHARS.test(entry.source),
      mode: entry.mode === undefined || entry.mode === '' ? null : parseMode(entry.mode, where),
      owner: entry.user === undefined ? null : { user: entry.user, group: entry.group! },
    };
  });
  // nixpkgs refuses a copy to a path an earlier entry already made; a glob target is a directory shared on purpose.
  const copied = new Map<string, number>();
  for (const entry of planned) {
    const earlier = copied.get(entry.target);
    if (!entry.glob && earlier !== undefined) {
      throw new ContentsError(`contents entry ${entry.index}: duplicate target /${entry.target} (already written by contents entry ${earlier})`);
    }
    if (!entry.glob) copied.set(entry.target, entry.index);
  }
  return planned;
}

/** The matches of a bash glob in byte order (hidden names only for a pattern starting with a dot). */
async function expandGlob(pattern: string): Promise<string[]> {
  const absolute = pattern.startsWith('/');
  let found = [absolute ? '/' : '.'];
  for (const segment of pattern.split('/').filter((s) => s !== '')) {
    const next: string[] = [];
    for (const dir of found) {
      if (!GLOB_CHARS.test(segment)) {
        const candidate = path.join(dir, segment);
        if (await lstat(candidate).then(() => true, () => false)) next.push(candidate);
        continue;
      }
      const matcher = globSegment(segment);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort(compareBytes)) if (matcher.test(name)) next.push(path.join(dir, name));
    }
    found = next;
  }
  return found;
}

function globSegment(segment: string): RegExp {
  let source = segment.startsWith('.') ? '' : '(?!\\.)';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) source += '\\[';
      else {
        const inner = segment.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\');
        source += `[${inner}]`;
        i = close;
      }
    } else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Every entry checked against the host: sources that exist, globs that match, and no
 * copy onto a path an earlier entry makes (its copy, a folder inside it, a parent
 * folder it needed), which nixpkgs finds only when it gets there.
 */
export async function planContents(entries: readonly ContentsEntry[]): Promise<PlannedContents[]> {
  const planned = await sourcesOf(entries);
  for (const [k, entry] of planned.entries()) {
    if (entry.glob) continue;
    for (const earlier of planned.slice(0, k)) {
      if (await makes(earlier, entry.target)) {
        throw new ContentsError(`contents entry ${entry.index}: duplicate target /${entry.target} (contents entry ${earlier.index} already puts something there)`);
      }
    }
  }
  return planned;
}

/** Whether copying `entry` creates the image path `target` (a folder on the way included). */
async function makes(entry: PlannedContents, target: string): Promise<boolean> {
  if (entry.target === target || entry.target.startsWith(`${target}/`) || target === '') return true;
  if (!target.startsWith(`${entry.target}/`)) return false;
  const rest = target.slice(entry.target.length + 1);
  if (entry.glob) {
    const [first, ...below] = rest.split('/');
    const match = entry.sources.find((source) => path.basename(source) === first);
    return match !== undefined && (below.length === 0 || (await lstat(path.join(match, ...below)).then(() => true, () => false)));
  }
  const source = entry.sources[0]!;
  return (await stat(source).catch(() => null))?.isDirectory() === true && (await lstat(path.join(source, rest)).then(() => true, () => false));
}

async function sourcesOf(entries: readonly ContentsEntry[]): Promise<PlannedContents[]> {
  const checked = checkContents(entries);
  return Promise.all(
    checked.map(async (entry, i) => {
      const source = entries[i]!.source;
      const where = `contents entry ${entry.index} (target "${entries[i]!.target}")`;
      if (entry.glob) {
        const sources = await expandGlob(source);
        if (sources.length === 0) throw new ContentsError(`${where}: source "${source}" matches nothing`);
        return { ...entry, sources };
      }
      if (!(await lstat(source).then(() => true, () => false))) throw new ContentsError(`${where}: source "${source}" does not exist`);
      return { ...entry, sources: [source] };
    }),
  );
}

/** Copies the planned entries into `rootDir` in order; returns the owners to apply, by image path. */
export async function copyContents(planned: readonly PlannedContents[], rootDir: string): Promise<{ path: string; user: string; group: string }[]> {
  const owners: { path: string; user: string; group: string }[] = [];
  for (const entry of planned) {
    const target = path.join(rootDir, entry.target);
    const copiedRoots: string[] = [];
    if (entry.glob) {
      await mkdir(target, { recursive: true, mode: 0o755 });
      for (const source of entry.sources) {
        const destination = path.join(target, path.basename(source));
        await copy(source, destination);
        copiedRoots.push(destination);
      }
    } else {
      if (await lstat(target).then(() => true, () => false)) {
        throw new ContentsError(`contents entry ${entry.index}: duplicate target /${entry.target}`);
      }
      await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
      // rsync's `source/` for a directory (its contents to the target); a file, or a symlink to one, as it is.
      const isDirectory = (await stat(entry.sources[0]!).catch(() => null))?.isDirectory() ?? false;
      await copy(isDirectory ? `${entry.sources[0]}/.` : entry.sources[0]!, target);
      copiedRoots.push(target);
    }
    // chmod follows a symlink named on its command line; rsync's --chmod leaves symlinks alone.
    const modeRoots = (await Promise.all(copiedRoots.map(async (p) => ((await lstat(p)).isSymbolicLink() ? [] : [p])))).flat();
    if (entry.mode !== null && modeRoots.length > 0) await runTool('chmod', ['-R', entry.mode.toString(8).padStart(4, '0'), ...modeRoots]);
    if (entry.owner) owners.push({ path: entry.target, ...entry.owner });
  }
  return owners;
}

async function copy(source: string, destination: string): Promise<void> {
  // Not -a: an ordinary user cannot keep owners, which cptofs drops anyway.
  await runTool('cp', ['-R', '-P', '--preserve=mode,timestamps,links', '--no-target-directory', source, destination]);
}
