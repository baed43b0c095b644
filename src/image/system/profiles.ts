/**
 * The skeleton of a full image's root as `nixos-install --system … --no-bootloader
 * --no-root-passwd` leaves it (FACTS §6.2): Nix's state directories, the system profile
 * (and the channel's, with `/root/.nix-defexpr/channels`), `/etc/NIXOS`, `/etc/nixos`.
 * A list first (pure, tested), then written into the staging folder.
 *
 * Left out on purpose (FACTS §9): `gcroots/profiles`, which nixpkgs' chroot store
 * points at the build folder, dangling in every image.
 */
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type SkeletonEntry =
  | { path: string; kind: 'directory'; mode: number }
  | { path: string; kind: 'file'; mode: number; content: string }
  | { path: string; kind: 'symlink'; target: string };

export interface SystemProfiles {
  toplevel: string;
  /** The channel's store path when copyChannel, else null. */
  channel: string | null;
}

const directory = (p: string, mode = 0o755): SkeletonEntry => ({ path: p, kind: 'directory', mode });
const link = (p: string, target: string): SkeletonEntry => ({ path: p, kind: 'symlink', target });

/** Every entry, parents first, paths relative to the image root; pure. */
export function systemSkeleton({ toplevel, channel }: SystemProfiles): SkeletonEntry[] {
  const entries: SkeletonEntry[] = [
    directory('etc'),
    { path: 'etc/NIXOS', kind: 'file', mode: 0o644, content: '' },
    directory('etc/nixos'),
    directory('nix'),
    directory('nix/store'),
    directory('nix/store/.links'),
    directory('nix/var'),
    directory('nix/var/nix'),
    directory('nix/var/nix/db'),
    directory('nix/var/nix/gcroots'),
    directory('nix/var/nix/gcroots/per-user'),
    directory('nix/var/nix/profiles'),
    directory('nix/var/nix/profiles/per-user'),
    directory('nix/var/nix/temproots'),
    link('nix/var/nix/profiles/system', 'system-1-link'),
    link('nix/var/nix/profiles/system-1-link', toplevel),
  ];
  if (channel !== null) {
    entries.push(
      directory('nix/var/nix/profiles/per-user/root'),
      link('nix/var/nix/profiles/per-user/root/channels', 'channels-1-link'),
      link('nix/var/nix/profiles/per-user/root/channels-1-link', channel),
      directory('root'),
      directory('root/.nix-defexpr', 0o700),
      link('root/.nix-defexpr/channels', '/nix/var/nix/profiles/per-user/root/channels'),
    );
  }
  return entries;
}

/** Writes skeleton entries under `rootDir`; existing directories (from `contents`) keep their modes, as mkdir -p leaves them. */
export async function writeSkeleton(entries: readonly SkeletonEntry[], rootDir: string): Promise<void> {
  for (const entry of entries) {
    const at = path.join(rootDir, entry.path);
    if (entry.kind === 'directory') {
      const created = await mkdir(at, { recursive: true });
      if (created !== undefined) await chmod(at, entry.mode);
    } else if (entry.kind === 'file') {
      await writeFile(at, entry.content);
      await chmod(at, entry.mode);
    } else {
      await symlink(entry.target, at);
    }
  }
}
