import { execa } from 'execa';
import { createInterface } from 'node:readline';

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

export class NixToolMissingError extends Error {
  constructor(readonly tool: string) {
    super(`nixdisk: \`${tool}\` was not found on PATH; nixdisk needs Nix (the nix-bin package, or nixos.org/download)`);
    this.name = 'NixToolMissingError';
  }
}

/**
 * Runs one Nix tool with an argument array. A non-zero exit is returned, not thrown:
 * each caller knows how to explain its own failure. `onStderrLine` sees Nix's log
 * as it comes (build output for the progress display).
 */
export async function runNixTool(
  tool: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; onStderrLine?: (line: string) => void } = {},
): Promise<NixRun> {
  const child = execa(tool, args, { cwd: options.cwd, env: options.env, reject: false, stdin: 'ignore' });
  const onLine = options.onStderrLine;
  if (onLine && child.stderr) createInterface({ input: child.stderr }).on('line', onLine);
  const result = await child;
  if (result.code === 'ENOENT') throw new NixToolMissingError(tool);
  if (result.exitCode === undefined) throw new Error(`nixdisk: ${tool} did not run: ${result.shortMessage}`);
  return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode };
}
