import { constants } from 'node:os';

export interface Interrupts {
  /** Aborts on the first SIGINT or SIGTERM: every tool the command started stops and its cleanup runs. */
  signal: AbortSignal;
  /** The shell's convention for a death by that signal: 130 for SIGINT, 143 for SIGTERM. */
  exitCode(): number;
  dispose(): void;
}

/**
 * Ctrl-C (and SIGTERM) for a command with something to clean up: the first signal calls
 * `announce` and aborts, so the command's `finally` blocks still remove what it made in
 * $TMPDIR; a second one exits at once.
 */
export function catchInterrupts(announce: (signal: NodeJS.Signals) => void): Interrupts {
  const controller = new AbortController();
  let exitCode = 130;
  const interrupt = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCode);
    exitCode = 128 + constants.signals[signal];
    announce(signal);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  return {
    signal: controller.signal,
    exitCode: () => exitCode,
    dispose: () => {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    },
  };
}
