/**
 * The Nix database of a full image (`/nix/var/nix/db`, FACTS §6.2), made as nixpkgs
 * makes it: `nix-store --load-db` reads the closure's registration into a fresh state
 * directory, so the schema and rows are Nix's own. Then, when the build is pinned,
 * sqlite3 sets every registration time to the epoch (load-db stamps the wall clock).
 * Rows follow the closure's sorted order, so equal closures give equal files.
 *
 * Left out on purpose (nixpkgs' known bugs, FACTS §9): the 8 MiB `reserved` file.
 */
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatRegistration, type StorePathInfo } from '../../nix/closure.js';
import { runTool } from '../../tools.js';

/** Where the files go, relative to the image root. */
export const NIX_DB_DIR = 'nix/var/nix/db';

/**
 * The SQL that pins every registration time; pure. Without syncs: like load-db's, the
 * file is scratch until it is copied into the image, and waiting for the disk made this
 * step take anywhere from 18 to 90 ms on the build machines.
 */
export function pinRegistrationTimesSql(epoch: number): string {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new Error(`registration time ${epoch} is not a whole number of seconds`);
  return `PRAGMA synchronous = OFF; UPDATE ValidPaths SET registrationTime = ${epoch};`;
}

/**
 * Makes the database registering exactly `paths` in Nix's state directory under
 * `scratchDir`, and returns the folder holding it, for installNixDatabase. Only tools
 * run meanwhile, so the build goes on with other work until it is needed.
 */
export async function buildNixDatabase(paths: readonly StorePathInfo[], scratchDir: string, pinnedTime: number | null): Promise<string> {
  const stateDir = path.join(scratchDir, 'nix-state');
  await mkdir(stateDir, { recursive: true });
  // NIX_REMOTE=local: never the daemon's database, whoever runs the build. No fsync:
  // the database is scratch until installNixDatabase copies it, and the syncs made
  // load-db take 74 to 181 ms where it needs about 60.
  await runTool('nix-store', ['--load-db', '--option', 'fsync-metadata', 'false'], {
    input: formatRegistration(paths),
    env: { NIX_REMOTE: 'local', NIX_STATE_DIR: stateDir, HOME: scratchDir },
  });
  const builtDb = path.join(stateDir, 'db');
  if (pinnedTime !== null) await runTool('sqlite3', [path.join(builtDb, 'db.sqlite'), pinRegistrationTimesSql(pinnedTime)]);
  return builtDb;
}

/** Puts db.sqlite, schema and big-lock from buildNixDatabase's folder into `<rootDir>/nix/var/nix/db`. */
export async function installNixDatabase(builtDb: string, rootDir: string): Promise<void> {
  const dbDir = path.join(rootDir, NIX_DB_DIR);
  await mkdir(dbDir, { recursive: true });
  for (const name of ['db.sqlite', 'schema']) {
    await copyFile(path.join(builtDb, name), path.join(dbDir, name));
    await chmod(path.join(dbDir, name), 0o644);
  }
  await writeFile(path.join(dbDir, 'big-lock'), '', { mode: 0o600 });
  await chmod(path.join(dbDir, 'big-lock'), 0o600);
}

/** One row of ValidPaths as verify reads it back. */
export interface RegisteredPath {
  path: string;
  /** `sha256:<base 16>`, as Nix stores it. */
  hash: string;
  narSize: number;
  references: string[];
}

/** The database's registrations, read with sqlite3 (for verify and the tests). */
export async function readNixDatabase(dbFile: string): Promise<RegisteredPath[]> {
  const query =
    "SELECT v.path, v.hash, v.narSize, COALESCE((SELECT group_concat(r.path, ' ') FROM Refs f JOIN ValidPaths r ON r.id = f.reference WHERE f.referrer = v.id), '') FROM ValidPaths v ORDER BY v.path;";
  const { stdout } = await runTool('sqlite3', ['-readonly', '-separator', '\t', dbFile, query]);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [p, hash, narSize, references] = line.split('\t') as [string, string, string, string];
      return { path: p, hash, narSize: Number(narSize), references: references === '' ? [] : references.split(' ').sort() };
    });
}
