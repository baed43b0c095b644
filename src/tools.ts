/**
 * The one way nixdisk runs an external program: an argument array (never a shell
 * string), a PATH that also covers /usr/sbin and /sbin (where mkfs.*, sfdisk and
 * friends live but an ordinary user's PATH often does not look), and errors that
 * say which Debian package to install when the program is missing.
 */
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import { execa } from 'execa';

/** The Debian 12 package that ships each program nixdisk runs. */
export const DEBIAN_PACKAGE_OF: Readonly<Record<string, string>> = {
  'mke2fs': 'e2fsprogs',
  'mkfs.ext4': 'e2fsprogs',
  'debugfs': 'e2fsprogs',
  'dumpe2fs': 'e2fsprogs',
  'e2fsck': 'e2fsprogs',
  'filefrag': 'e2fsprogs',
  'resize2fs': 'e2fsprogs',
  'tune2fs': 'e2fsprogs',
  'mkfs.vfat': 'dosfstools',
  'mkfs.fat': 'dosfstools',
  'fsck.vfat': 'dosfstools',
  'fatlabel': 'dosfstools',
  'mcopy': 'mtools',
  'mdir': 'mtools',
  'minfo': 'mtools',
  'mkfs.btrfs': 'btrfs-progs',
  'btrfs': 'btrfs-progs',
  'mkfs.xfs': 'xfsprogs',
  'xfs_repair': 'xfsprogs',
  'xfs_db': 'xfsprogs',
  'mkfs.erofs': 'erofs-utils',
  'fsck.erofs': 'erofs-utils',
  'dump.erofs': 'erofs-utils',
  'mksquashfs': 'squashfs-tools',
  'unsquashfs': 'squashfs-tools',
  'mkfs.f2fs': 'f2fs-tools',
  'sload.f2fs': 'f2fs-tools',
  'fsck.f2fs': 'f2fs-tools',
  'dump.f2fs': 'f2fs-tools',
  'qemu-img': 'qemu-utils',
  'sfdisk': 'fdisk',
  'sgdisk': 'gdisk',
  'parted': 'parted',
  'partx': 'util-linux',
  'unshare': 'util-linux',
  'fakeroot': 'fakeroot',
  'faketime': 'faketime',
  'nix': 'nix-bin',
  'nix-build': 'nix-bin',
  'nix-instantiate': 'nix-bin',
  'nix-store': 'nix-bin',
  'nix-hash': 'nix-bin',
  'sqlite3': 'sqlite3',
  'blkid': 'util-linux',
  'grub-mkimage': 'grub-common',
};

const SYSTEM_BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * Where tools are looked up: NIXDISK_TOOL_PATH exactly, when set (hermetic builds, such
 * as a Nix derivation that brings its own tools, must not fall back to the host's);
 * otherwise the caller's PATH with the system directories appended when missing (order
 * of the caller's entries kept).
 */
export function toolSearchPath(current: string | undefined, hermetic = process.env.NIXDISK_TOOL_PATH): string {
  if (hermetic) return hermetic;
  const entries = (current ?? '').split(':').filter((entry) => entry !== '');
  for (const dir of SYSTEM_BIN_DIRS) if (!entries.includes(dir)) entries.push(dir);
  return entries.join(':');
}

export class ToolMissingError extends Error {
  constructor(
    readonly command: string,
    readonly debianPackage: string | undefined,
  ) {
    super(
      debianPackage
        ? `'${command}' was not found on PATH; install the Debian package '${debianPackage}'`
        : `'${command}' was not found on PATH`,
    );
  }
}

export class ToolFailedError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | undefined,
    readonly signal: string | undefined,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const how = signal ? `was killed by ${signal}` : `exited with status ${exitCode}`;
    const output = [stderr.trim(), stdout.trim()].filter((text) => text !== '').join('\n');
    super(`${command} ${how}${output ? `:\n${output}` : ''}`);
  }

  /** stdout and stderr together, for matching the tool's own error messages. */
  get output(): string {
    return `${this.stdout}\n${this.stderr}`;
  }
}

const cancellation = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `work` so that every tool it starts, however deep in the pipeline, is stopped
 * (SIGTERM) when `signal` aborts, e.g. on Ctrl-C, without threading the signal through
 * every filesystem writer and Nix call.
 */
export function stopToolsOn<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  return signal ? cancellation.run(signal, work) : work();
}

/** The signal stopToolsOn set for this call chain: for work that is not a tool (threads) but must stop with them. */
export function currentCancelSignal(): AbortSignal | undefined {
  return cancellation.getStore();
}

export interface RunToolOptions {
  /** Extra environment variables (merged over the process environment). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Text written to the tool's stdin; without it (or empty) stdin is /dev/null. */
  input?: string;
  /** Exit codes that count as success besides 0 (some checkers use 1 for "fixed nothing, all fine"). */
  okExitCodes?: readonly number[];
  /** The Debian package to name when the command is missing and not in DEBIAN_PACKAGE_OF. */
  debianPackage?: string;
  /** See output as it comes (progress, logs); it is still collected for the result. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs `command` with `args` and resolves with its output. Rejects with a
 * ToolMissingError when the program is not installed and a ToolFailedError
 * (carrying stdout/stderr) when it fails. LC_ALL=C keeps messages and any
 * locale-dependent ordering stable.
 */
export async function runTool(command: string, args: readonly string[], options: RunToolOptions = {}): Promise<ToolResult> {
  const child = execa(command, args, {
    env: { LC_ALL: 'C', ...options.env, PATH: toolSearchPath(options.env?.PATH ?? process.env.PATH) },
    cwd: options.cwd,
    // No text for the tool: /dev/null, which reads as the same end of input as an empty
    // pipe and spares execa a stream per call (about 1.3 ms each, on the main thread).
    ...(options.input ? { input: options.input } : { stdin: 'ignore' as const }),
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
    cancelSignal: cancellation.getStore(),
  });
  if (options.onStdout) child.stdout?.on('data', (chunk: Buffer) => options.onStdout!(chunk.toString()));
  if (options.onStderr) child.stderr?.on('data', (chunk: Buffer) => options.onStderr!(chunk.toString()));
  const result = await child;
  cancellation.getStore()?.throwIfAborted();
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if ((result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new ToolMissingError(command, options.debianPackage ?? DEBIAN_PACKAGE_OF[command]);
  }
  const exitCode = result.exitCode;
  const ok = exitCode !== undefined && (exitCode === 0 || (options.okExitCodes ?? []).includes(exitCode));
  if (!ok) throw new ToolFailedError(command, args, exitCode, result.signal ?? undefined, stdout, stderr);
  return { stdout, stderr, exitCode: exitCode! };
}

/**
 * Throws a ToolMissingError unless `command` is an executable on the tool PATH. For
 * programs started through a wrapper (fakeroot, faketime), whose own "not found"
 * would not name the package.
 */
export async function requireTool(command: string, debianPackage?: string): Promise<void> {
  for (const dir of toolSearchPath(process.env.PATH).split(':')) {
    try {
      await access(join(dir, command), constants.X_OK);
      return;
    } catch {
      // not in this directory
    }
  }
  throw new ToolMissingError(command, debianPackage ?? DEBIAN_PACKAGE_OF[command]);
}
