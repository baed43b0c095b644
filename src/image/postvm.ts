/**
 * The user's `postVM` hook: the only shell nixdisk runs. nixpkgs evaluates it in the
 * builder's bash after the image is in `$out`, with `$out` and `$diskImage` set; nixdisk
 * runs it the same way in the build folder, where `$out` is the output folder being
 * built (renamed into place when the hook succeeds).
 */
import { runTool } from '../tools.js';

export interface PostVMContext {
  script: string;
  outDir: string;
  diskImage: string;
  /** The build's working folder: the hook's cwd and $TMPDIR, as nixpkgs' build top is. */
  buildDir: string;
  /** The staged root tree ($root in nixpkgs). */
  rootDir: string;
  onLine?: (line: string) => void;
}

/**
 * Runs the hook (`$1`) in a process group of its own, so that stopping the build stops
 * everything the hook started: a plain `bash -c` dies on SIGTERM but leaves its running
 * command behind, holding the output pipes open until it ends by itself. The wrapper's
 * own stderr goes to /dev/null, or job control would print "[1]+ Done" lines; the hook
 * keeps the real one (fd 3).
 */
const PROCESS_GROUP_WRAPPER = `exec 3>&2 2>/dev/null
set -m
bash -e -o pipefail -c "$1" 2>&3 3>&- &
hook=$!
trap 'kill -TERM -- "-$hook"; wait "$hook"; exit 143' TERM INT
wait "$hook"`;

export async function runPostVM(context: PostVMContext): Promise<void> {
  if (context.script.trim() === '') return;
  await runTool('bash', ['-c', PROCESS_GROUP_WRAPPER, 'postVM', context.script], {
    cwd: context.buildDir,
    env: {
      out: context.outDir,
      diskImage: context.diskImage,
      root: context.rootDir,
      TMPDIR: context.buildDir,
      NIX_BUILD_TOP: context.buildDir,
      HOME: context.buildDir,
    },
    onStdout: (chunk) => splitLines(chunk).forEach((line) => context.onLine?.(line)),
    onStderr: (chunk) => splitLines(chunk).forEach((line) => context.onLine?.(line)),
  });
}

function splitLines(chunk: string): string[] {
  return chunk.split('\n').filter((line) => line !== '');
}
