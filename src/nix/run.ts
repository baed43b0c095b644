import { runTool, ToolFailedError } from '../tools.js';

/**
 * Options every Nix invocation gets: nixdisk runs offline and must not spend seconds
 * retrying cache.nixos.org before building something that is already local.
 */
export const OFFLINE_OPTIONS = ['--option', 'substituters', ''];

export interface NixRun {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs one Nix tool through runTool (argument array, tool PATH, missing-package
 * errors). A non-zero exit is returned, not thrown: each caller knows how to explain
 * its own failure. `onStderrLine` sees Nix's log as it comes (build output for the
 * progress display).
 */
export async function runNixTool(
  tool: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; onStderrLine?: (line: string) => void } = {},
): Promise<NixRun> {
  let pending = '';
  const onLine = options.onStderrLine;
  const onStderr = onLine
    ? (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop()!;
        lines.forEach(onLine);
      }
    : undefined;
  try {
    return await runTool(tool, args, { cwd: options.cwd, env: options.env, onStderr, input: '' });
  } catch (error) {
    if (error instanceof ToolFailedError && error.exitCode !== undefined) {
      return { stdout: error.stdout, stderr: error.stderr, exitCode: error.exitCode };
    }
    throw error;
  } finally {
    if (onLine && pending !== '') onLine(pending);
  }
}
